"""Synchronize ``.dtmconfig`` files: every sample file parses; entity tricks, truncation and bad
connection strings are refused with the file named (R16)."""

from __future__ import annotations

import re
import time
import tracemalloc
from pathlib import Path
from xml.etree import ElementTree

import pytest

import helpers
from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.errors import EngineError
from groupid_upgrade.model.installation import JobCollection, SyncJob
from groupid_upgrade.source.dtmconfig import read_dtmconfig, render_collection, render_job
from groupid_upgrade.source.installation import SourceInstallation
from groupid_upgrade.source.layout import JOB_FOLDERS

pytest_plugins = ["helpers"]

GOOD_JOB = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<DtmConfig Version="10.0" Format="1">\n'
    '  <Job Id="j1" Name="Job one" Enabled="true">\n'
    '    <Source Provider="Text" ConnectionString="Provider=Text;Path=\\\\fs\\a.csv" />\n'
    '    <Destination Provider="ActiveDirectory" ConnectionString="Domain=corp.example.com;Server=dc01" />\n'
    "  </Job>\n"
    "</DtmConfig>\n"
)


def write(tmp_path: Path, text: str | bytes, name: str = "job.dtmconfig") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_a_plain_job_file_parses(tmp_path: Path) -> None:
    job = read_dtmconfig(write(tmp_path, GOOD_JOB), "Jobs/job.dtmconfig", "job")
    assert isinstance(job, SyncJob)
    assert (job.id, job.name, job.destination_domain) == ("j1", "Job one", "corp.example.com")
    assert job.source.connection["Path"] == "\\\\fs\\a.csv"


def test_every_sample_job_file_parses(sample: helpers.Sample) -> None:
    manifest = sample.manifest
    ids: set[str] = set()
    files = 0
    for folder, kind in JOB_FOLDERS.items():
        for path in helpers.dtmconfig_files(sample.jobs_folder, folder):
            files += 1
            item = read_dtmconfig(path, f"{folder}/{path.name}", kind)
            root = ElementTree.fromstring(path.read_bytes())  # the same file, read independently
            if isinstance(item, JobCollection):
                xml_jobs = root.findall("JobCollection/Job")
                assert item.id == root.find("JobCollection").get("Id")
                assert [j.id for j in item.jobs] == [j.get("Id") for j in xml_jobs]
                assert all(j.collection_id == item.id for j in item.jobs)
                ids.update(j.id for j in item.jobs)
            else:
                assert item.id == root.find("Job").get("Id")
                assert item.name == root.find("Job").get("Name")
                assert item.destination.provider == root.find("Job/Destination").get("Provider")
                ids.add(item.id)
    assert files == len(helpers.dtmconfig_files(sample.jobs_folder)) > 0
    # every job the generator wrote (its manifest lists them) was read back
    assert set(manifest["jobIds"].values()) <= ids


def test_render_and_read_round_trip(tmp_path: Path) -> None:
    job = {
        "id": "a-1",
        "name": 'Quote " & <angle>',
        "source": {"provider": "Text", "connectionString": "Path=x"},
        "destination": {
            "provider": "ActiveDirectory",
            "connectionString": 'Domain=corp.example.com;Note="a;b"',
        },
        "messaging": {"Provider": "Office365", "Domain": "corp.example.com"},
        "script": "If a < b Then\n  x\n",
    }
    read = read_dtmconfig(write(tmp_path, render_job(job, "10.0")), "Jobs/x", "job")
    assert read.name == job["name"] and read.script == job["script"]
    assert read.destination.connection == {"Domain": "corp.example.com", "Note": "a;b"}
    assert read.messaging.provider.value == "Office365"
    coll = {"id": "c-1", "name": "C", "jobs": [job, {**job, "id": "a-2"}]}
    read_coll = read_dtmconfig(
        write(tmp_path, render_collection(coll, "10.0"), "c.dtmconfig"), "Group Jobs/c", "collection"
    )
    assert [j.id for j in read_coll.jobs] == ["a-1", "a-2"]


# --- entities (R16) ------------------------------------------------------------------------------------
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE DtmConfig [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<DtmConfig Version="10.0"><Job Id="&lol9;" Name="bomb">
  <Source Provider="Text" ConnectionString="Path=x"/>
  <Destination Provider="ActiveDirectory" ConnectionString="Domain=corp.example.com"/>
</Job></DtmConfig>
"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE DtmConfig [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<DtmConfig Version="10.0"><Job Id="x" Name="&xxe;">
  <Source Provider="Text" ConnectionString="Path=x"/>
  <Destination Provider="ActiveDirectory" ConnectionString="Domain=corp.example.com"/>
</Job></DtmConfig>
"""

XXE_PARAMETER = """<?xml version="1.0"?>
<!DOCTYPE DtmConfig [ <!ENTITY % ext SYSTEM "file:///etc/passwd"> %ext; ]>
<DtmConfig Version="10.0"/>
"""

DTD_ONLY = """<?xml version="1.0"?>
<!DOCTYPE DtmConfig SYSTEM "http://127.0.0.1:9/evil.dtd">
<DtmConfig Version="10.0"/>
"""


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("billion-laughs", BILLION_LAUGHS),
        ("xxe", XXE),
        ("xxe-parameter", XXE_PARAMETER),
        ("external-dtd", DTD_ONLY),
    ],
)
def test_r16_entities_are_refused_unexpanded(tmp_path: Path, name: str, text: str) -> None:
    path = write(tmp_path, text, f"{name}.dtmconfig")
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(EngineError) as info:
            read_dtmconfig(path, f"Jobs/{path.name}", "job")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.error_id == "XmlEntitiesForbidden"
    assert str(path) in info.value.message
    assert time.monotonic() - started < 2  # 10**9 "lol"s were never built
    assert peak < 2_000_000
    text_out = str(info.value.to_error_object())
    assert "lollol" not in text_out and "root:" not in text_out


def test_r16_xxe_is_refused_when_the_job_is_read_through_the_installation(
    sample_copy: helpers.Sample,
) -> None:
    write(sample_copy.jobs_folder / "Jobs", XXE, "Evil.dtmconfig")
    write(sample_copy.jobs_folder / "Jobs", BILLION_LAUGHS, "Bomb.dtmconfig")
    answers = load_answer_file(sample_copy.answer_file)
    with SourceInstallation(answers.source) as source:
        content = source.synchronize()
    problems = {p.file: p.error.error_id for p in content.problems}
    assert problems == {
        "Jobs/Evil.dtmconfig": "XmlEntitiesForbidden",
        "Jobs/Bomb.dtmconfig": "XmlEntitiesForbidden",
    }
    assert all("root:" not in j.name for j in content.all_jobs())


# --- truncation and bad content -------------------------------------------------------------------------
@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.8, 0.97])
def test_r16_truncated_file_names_file_line_and_column(tmp_path: Path, fraction: float) -> None:
    whole = GOOD_JOB.encode("utf-8")
    cut = whole[: int(len(whole) * fraction)]
    path = write(tmp_path, cut)
    with pytest.raises(EngineError) as info:
        read_dtmconfig(path, "Jobs/job.dtmconfig", "job")
    assert info.value.error_id == "DtmConfigInvalid"
    assert str(path) in info.value.message
    match = re.search(r"line (\d+), column (\d+)", info.value.message)
    assert match, info.value.message
    line, column = int(match.group(1)), int(match.group(2))
    lines = cut.decode("utf-8").split("\n")
    # the parser stops at the end of what is there: the last line, within it (1-based column)
    assert line == len(lines)
    assert 1 <= column <= len(lines[-1]) + 1


def test_r16_syntax_error_position_is_one_based(tmp_path: Path) -> None:
    text = '<?xml version="1.0"?>\n<DtmConfig>\n  <Job Id="a" Name="b"></Jb>\n</DtmConfig>\n'
    path = write(tmp_path, text)
    with pytest.raises(EngineError) as info:
        read_dtmconfig(path, "Jobs/job.dtmconfig", "job")
    assert info.value.error_id == "DtmConfigInvalid"
    # the position is of the bad end tag, counted from 1: its "<" or the name after "</"
    match = re.search(r"line (\d+), column (\d+)", info.value.message)
    assert match and int(match.group(1)) == 3
    start = text.splitlines()[2].index("</Jb>") + 1
    assert start <= int(match.group(2)) <= start + 2


def test_r16_sample_truncated_file_is_dtmconfig_invalid(faults_sample: helpers.Sample) -> None:
    path = faults_sample.jobs_folder / "Jobs" / "Truncated job.dtmconfig"
    with pytest.raises(ElementTree.ParseError):
        ElementTree.fromstring(path.read_bytes())  # the sample's file really is cut short
    with pytest.raises(EngineError) as info:
        read_dtmconfig(path, "Jobs/Truncated job.dtmconfig", "job")
    assert info.value.error_id == "DtmConfigInvalid"
    assert "Truncated job.dtmconfig" in info.value.message
    assert re.search(r"line \d+, column \d+", info.value.message)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not xml at all",
        "<Other/>",
        "<DtmConfig/>",
        '<DtmConfig><Job Name="no id"/></DtmConfig>',
        '<DtmConfig><Job Id="a" Name="b"><Destination Provider="ActiveDirectory" ConnectionString="Domain=x"/></Job>'
        "</DtmConfig>",
        '<DtmConfig><Job Id="a" Name="b"><Source ConnectionString="a=b"/><Destination Provider="Text"/></Job>'
        "</DtmConfig>",
        b"\xff\xfe\x00garbage",
    ],
)
def test_r16_invalid_content_is_dtmconfig_invalid(tmp_path: Path, text: str | bytes) -> None:
    path = write(tmp_path, text)
    with pytest.raises(EngineError) as info:
        read_dtmconfig(path, "Jobs/job.dtmconfig", "job")
    assert info.value.error_id == "DtmConfigInvalid"
    assert str(path) in info.value.message


@pytest.mark.parametrize(
    "connection",
    [
        'Domain="corp.example.com;Server=dc01',  # unterminated quote
        "Domain=corp.example.com;Server",  # a key without a value
        "Server=dc01;Container=OU=Staff",  # a directory destination with no Domain
        "=corp.example.com",
    ],
)
def test_r16_unparseable_destination(tmp_path: Path, connection: str) -> None:
    job = {
        "id": "a",
        "name": "b",
        "source": {"provider": "Text", "connectionString": "Path=x"},
        "destination": {"provider": "ActiveDirectory", "connectionString": connection},
    }
    path = write(tmp_path, render_job(job, "10.0"))
    with pytest.raises(EngineError) as info:
        read_dtmconfig(path, "Jobs/job.dtmconfig", "job")
    assert info.value.error_id == "DestinationUnparseable"
    assert str(path) in info.value.message


def test_r16_unparseable_source_is_connection_string_invalid(tmp_path: Path) -> None:
    job = {
        "id": "a",
        "name": "b",
        "source": {"provider": "Text", "connectionString": 'Path="x'},
        "destination": {"provider": "ActiveDirectory", "connectionString": "Domain=corp.example.com"},
    }
    with pytest.raises(EngineError) as info:
        read_dtmconfig(write(tmp_path, render_job(job, "10.0")), "Jobs/job.dtmconfig", "job")
    assert info.value.error_id == "ConnectionStringInvalid"


def test_r16_sample_unparseable_destination(faults_sample: helpers.Sample) -> None:
    path = faults_sample.jobs_folder / "Jobs" / "Unparseable destination.dtmconfig"
    with pytest.raises(EngineError) as info:
        read_dtmconfig(path, "Jobs/Unparseable destination.dtmconfig", "job")
    assert info.value.error_id == "DestinationUnparseable"
    assert "Unparseable destination.dtmconfig" in info.value.message


def test_r16_synchronize_reports_bad_files_and_reads_the_others(
    faults_sample: helpers.Sample, sample: helpers.Sample
) -> None:
    with SourceInstallation(load_answer_file(faults_sample.answer_file).source) as source:
        content = source.synchronize()
    problems = {p.file: p.error.error_id for p in content.problems}
    assert problems == {
        "Jobs/Truncated job.dtmconfig": "DtmConfigInvalid",
        "Jobs/Unparseable destination.dtmconfig": "DestinationUnparseable",
    }
    for p in content.problems:
        assert Path(p.file).name in p.error.message
    # every other file was read: the same jobs as in the sample without faults
    with SourceInstallation(load_answer_file(sample.answer_file).source) as source:
        clean = source.synchronize()
    assert clean.problems == []
    assert sorted(j.name for j in content.jobs) == sorted(j.name for j in clean.jobs)
    assert len(content.jobs) == len(helpers.dtmconfig_files(faults_sample.jobs_folder, "Jobs")) - 2
    assert [c.name for c in content.collections] == [c.name for c in clean.collections]
    assert len(content.templates) == len(clean.templates) > 0
    assert len(content.collection_templates) == len(clean.collection_templates) > 0


def test_r16_a_file_that_cannot_be_read_is_a_problem_of_its_own(sample_copy: helpers.Sample) -> None:
    (sample_copy.jobs_folder / "Jobs" / "A folder.dtmconfig").mkdir()
    with SourceInstallation(load_answer_file(sample_copy.answer_file).source) as source:
        content = source.synchronize()
    assert [p.file for p in content.problems] == ["Jobs/A folder.dtmconfig"]
    assert content.problems[0].error.error_id == "DtmConfigInvalid"
    assert content.jobs
