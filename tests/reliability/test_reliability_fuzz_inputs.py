"""Fuzzing the readers of files the user (or a backup set) hands the engine (issue #9, R16, R18):
``.dtmconfig`` files, the answer file, and the LDIF of a backup set. Every input either parses or fails
with an ``EngineError`` naming the file, and the position (line, column) where the parser gives one;
nothing else (no traceback, no other exception type) ever comes out.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import reliability_figures
from hypothesis import strategies as st

import helpers
from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.errors import CATALOG, EngineError
from groupid_upgrade.model.installation import JobCollection, SyncJob
from groupid_upgrade.model.settings import AnswerFile
from groupid_upgrade.source.dtmconfig import read_dtmconfig, render_collection, render_job
from groupid_upgrade.source.layout import JOB_FOLDERS
from groupid_upgrade.storage.ldif_io import read_ldif

pytest_plugins = ["helpers"]

POSITION = re.compile(r"line \d+, column \d+")


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="rel-fuzz-inputs-") as folder:
        yield Path(folder)


def mutated(base: bytes) -> st.SearchStrategy[bytes]:
    """``base`` with up to 6 edits: bytes cut, inserted, replaced, or the tail cut off."""
    edit = st.tuples(st.sampled_from(["cut", "insert", "replace", "truncate"]), st.integers(0, len(base)),
                     st.integers(1, 40), st.binary(min_size=1, max_size=40) | st.sampled_from(
                         [b"<", b">", b'"', b"&amp;", b"&x;", b"<!DOCTYPE d [<!ENTITY x 'y'>]>", b"\xff\xfe",
                          b"</Job>", b"<Job>", b"=", b";", b"\x00", b"]]>", b"<![CDATA["]))

    def apply(edits: list[tuple[str, int, int, bytes]]) -> bytes:
        data = base
        for op, pos, length, chunk in edits:
            pos = min(pos, len(data))
            if op == "cut":
                data = data[:pos] + data[pos + length:]
            elif op == "insert":
                data = data[:pos] + chunk + data[pos:]
            elif op == "replace":
                data = data[:pos] + chunk + data[pos + len(chunk):]
            else:
                data = data[:pos]
        return data

    return st.lists(edit, min_size=1, max_size=6).map(apply)


# --- .dtmconfig --------------------------------------------------------------------------------------------
JOB = {"id": "j1", "name": "Job one", "source": {"provider": "Text", "connectionString": "Provider=Text;Path=a.csv"},
       "destination": {"provider": "ActiveDirectory", "connectionString": "Domain=corp.example.com;Server=dc01"},
       "messaging": {"Provider": "Office365", "Domain": "corp.example.com"}, "script": "If x Then y"}
DTM_BASES = [render_job(JOB, "10.0"), render_collection({"id": "c1", "name": "C", "jobs": [JOB, {**JOB, "id": "j2"}]},
                                                        "10.0")]
attr_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
generated_job = st.builds(
    lambda i, n, sp, sc, dp, dc, enabled, msg: render_job(
        {"id": i, "name": n, "enabled": enabled, "source": {"provider": sp, "connectionString": sc},
         "destination": {"provider": dp, "connectionString": dc}, "messaging": msg}, "10.0"),
    attr_text, attr_text, st.sampled_from(["Text", "ActiveDirectory", "Sql", ""]) | attr_text, attr_text,
    st.sampled_from(["ActiveDirectory", "AzureAD", "Text", "Odbc"]) | attr_text,
    st.sampled_from(["Domain=corp.example.com", "Domain=;Server=", "Server=x", "a=b=c;;", '"x=;']) | attr_text,
    st.booleans(), st.none() | st.fixed_dictionaries({"Provider": attr_text, "Domain": attr_text}))
dtm_inputs = st.one_of(st.binary(max_size=2000), *(mutated(b) for b in DTM_BASES), generated_job)
DTM_ERRORS = {"DtmConfigInvalid", "XmlEntitiesForbidden", "ConnectionStringInvalid", "DestinationUnparseable"}


def test_r16_fuzz_dtmconfig_parses_or_names_the_file_and_position(workdir: Path) -> None:
    def check(value: tuple[bytes, str]) -> None:
        data, folder = value
        path = workdir / "Jobs" / "fuzzed job.dtmconfig"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        try:
            item = read_dtmconfig(path, f"{folder}/{path.name}", JOB_FOLDERS[folder])
        except EngineError as exc:
            assert exc.error_id in DTM_ERRORS, exc.error_id
            assert str(path) in exc.message and exc.target == str(path), exc.message
            if "XML error" in exc.message:
                assert POSITION.search(exc.message), exc.message
            return
        assert isinstance(item, (SyncJob, JobCollection))

    reliability_figures.fuzz(".dtmconfig reader", st.tuples(dtm_inputs, st.sampled_from(sorted(JOB_FOLDERS))), check)


# --- the answer file ---------------------------------------------------------------------------------------
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) \
    | st.text(max_size=30)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=20)
ANSWER_ERRORS = {"AnswerFileInvalid", "AnswerFileNotFound", "SecretsFileInvalid"}


def _answer_inputs(sample: helpers.Sample) -> st.SearchStrategy[bytes]:
    answers = sample.answers
    answers.pop("secretsFile", None)  # the fuzzed file stands alone: no secrets are read here
    base = json.dumps(answers, indent=2).encode()
    keys = sorted(answers)

    def replace_key(pair: tuple[str, Any]) -> bytes:
        key, value = pair
        data = json.loads(base)
        data[key] = value
        return json.dumps(data).encode()

    def nested(depth_kind: tuple[int, str]) -> bytes:
        depth, kind = depth_kind
        opener, closer = ("[", "]") if kind == "list" else ('{"a":', "}")
        return ("{\"modules\":" + opener * depth + "1" + closer * depth + "}").encode()

    return st.one_of(
        st.binary(max_size=1500),
        mutated(base),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.tuples(st.sampled_from(keys), json_values).map(replace_key),
        st.tuples(st.integers(1, 100_000), st.sampled_from(["list", "dict"])).map(nested),
        st.sampled_from([b"\xef\xbb\xbf" + base, base.decode().encode("utf-16"), b"", b"{}" * 3, b"NaN"]),
    )


def test_r16_fuzz_answer_file_loads_or_names_the_file_and_position(sample: helpers.Sample, workdir: Path) -> None:
    path = workdir / "fuzzed-answers.json"

    def check(data: bytes) -> None:
        path.write_bytes(data)
        try:
            loaded = load_answer_file(path)
        except EngineError as exc:
            assert exc.error_id in ANSWER_ERRORS, exc.error_id
            assert str(path) in exc.message and exc.target == str(path), exc.message
            assert exc.error_id in CATALOG
            if "not valid JSON" in exc.message:
                assert POSITION.search(exc.message), exc.message
            if exc.error_id == "AnswerFileInvalid" and "is invalid:" in exc.message:
                assert exc.extra["errors"] and all(e["field"] is not None for e in exc.extra["errors"])
            return
        assert isinstance(loaded, AnswerFile)

    reliability_figures.fuzz("answer-file loader", _answer_inputs(sample), check)


# --- LDIF of a backup set ----------------------------------------------------------------------------------
LDIF_BASE = (
    b"version: 1\n\n"
    b"dn: CN=Sales,OU=Groups,DC=corp,DC=example,DC=com\n"
    b"objectClass: group\n"
    b"extensionData:: " + base64.b64encode(b"\x00\x01binary\xff definition") + b"\n"
    b"extensionAttribute12: (&(objectClass=user)(department=Sales))\n"
    b"description: a long value folded over\n  two lines\n\n"
    b"# a comment\n"
    b"dn:: " + base64.b64encode("CN=Ünïcode,DC=corp,DC=example,DC=com".encode()) + b"\n"
    b"objectClass: group\n"
    b"extensionAttribute15: 2\n"
)
ldif_line = st.tuples(st.sampled_from(["dn", "objectClass", "extensionData", "changetype", "version", "x", ""])
                      | st.text(max_size=10), st.sampled_from([": ", ":: ", ":< ", ":", " "]),
                      st.binary(max_size=40)).map(lambda t: t[0].encode("utf-8", "replace") + t[1].encode() + t[2])
ldif_generated = st.lists(st.lists(ldif_line, max_size=6).map(b"\n".join), max_size=4).map(b"\n\n".join)
ldif_inputs = st.one_of(st.binary(max_size=1500), mutated(LDIF_BASE), ldif_generated)


def test_r18_the_ldif_reader_reads_the_base_file() -> None:
    # the fuzzer starts from a valid file: it must really parse (binary value and unicode dn included)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "groups.ldif"
        path.write_bytes(LDIF_BASE)
        records = list(read_ldif(path))
    assert [dn for dn, _ in records] == ["CN=Sales,OU=Groups,DC=corp,DC=example,DC=com",
                                         "CN=Ünïcode,DC=corp,DC=example,DC=com"]
    assert records[0][1]["extensionData"] == [b"\x00\x01binary\xff definition"]
    assert records[0][1]["description"] == [b"a long value folded over two lines"]


def test_r18_an_ldif_url_value_is_never_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere.txt"
    secret.write_text("must not be read")
    path = tmp_path / "groups.ldif"
    path.write_bytes(b"dn: CN=A,DC=x\nextensionData:< file://" + str(secret).encode() + b"\n")
    ((_, entry),) = list(read_ldif(path))
    assert entry["extensionData"] == [b""]


def test_r18_fuzz_ldif_reader_parses_or_names_the_file_and_line(workdir: Path) -> None:
    path = workdir / "fuzzed.ldif"

    def check(data: bytes) -> None:
        path.write_bytes(data)
        try:
            for dn, entry in read_ldif(path):
                assert isinstance(dn, str) and dn
                assert all(isinstance(v, bytes) for values in entry.values() for v in values)
        except EngineError as exc:
            assert exc.error_id == "BackupSetInvalid", exc.error_id
            assert str(path) in exc.message and exc.target == str(path), exc.message
            if "line" in exc.extra:
                assert f"at line {exc.extra['line']}" in exc.message

    reliability_figures.fuzz("LDIF reader (restore)", ldif_inputs, check)


# --- what the fuzzers found, pinned -----------------------------------------------------------------------
def test_r16_an_answer_file_nested_too_deep_names_the_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{\n  "modules": ' + "[" * 5000 + "]" * 5000 + "\n}")  # was a RecursionError
    with pytest.raises(EngineError) as caught:
        load_answer_file(path)
    assert caught.value.error_id == "AnswerFileInvalid" and str(path) in caught.value.message
    assert "line 2, column 77" in caught.value.message  # the 64th bracket, 65 deep with the object


def test_r16_inline_settings_nested_too_deep_are_answer_file_invalid() -> None:
    nested: Any = 1
    for _ in range(500):
        nested = {"a": nested}
    with pytest.raises(EngineError) as caught:
        load_answer_file(inline={"source": nested})
    assert caught.value.error_id == "AnswerFileInvalid" and "inline settings" in caught.value.message


def test_r16_a_dtmconfig_naming_an_unknown_encoding_is_dtmconfig_invalid(tmp_path: Path) -> None:
    path = tmp_path / "job.dtmconfig"
    path.write_bytes(b'<?xml version="1.0" encoding="no-such-encoding"?><DtmConfig/>')  # was a LookupError
    with pytest.raises(EngineError) as caught:
        read_dtmconfig(path, "Jobs/job.dtmconfig", "job")
    assert caught.value.error_id == "DtmConfigInvalid" and str(path) in caught.value.message
    assert "line 1" in caught.value.message
