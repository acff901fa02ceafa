"""The R19 leak checker (tests/support/leaks.py) is not blind: every form and every container it claims
is found, with hand-made and generated secrets, and a clean tree passes."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import sqlite3
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import ldif
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import helpers
from support import leaks

pytest_plugins = ["helpers"]

SECRET = "cnry-Pässwörd/+&<\"'> 7f3a9c41d2e8!Aa1"  # every escape differs from the clear text
ASCII_SECRET = "svc-corp11-78e510617311d8a3!Aa1"
GENERATED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

secrets_st = st.text(st.characters(codec="utf-8"), min_size=leaks.MIN_LENGTH, max_size=40)
filler = st.binary(max_size=64)


def found(secret: str, blob: bytes) -> list[leaks.Leak]:
    return leaks.LeakScanner({"the secret": secret}).data(blob, "blob")


@pytest.mark.parametrize("secret", [SECRET, ASCII_SECRET])
def test_r19_every_form_is_found_between_any_bytes(secret: str) -> None:
    every = leaks.forms(secret)
    names = " ".join(every)
    for claimed in ("UTF-8", "UTF-16-LE", "UTF-16-BE", "hex of UTF-8", "HEX of UTF-8", "hex of UTF-16-LE",
                    "base64 (alignment 0) of UTF-8", "base64 (alignment 2) of UTF-16-LE", "URL-encoded UTF-8"):
        assert claimed in every, claimed
    if secret == SECRET:
        assert all(escape in names for escape in ("JSON-escaped", "URL-encoded (form)", "XML-escaped",
                                                  "URL-encoded (lower-case hex)"))
    for name, form in every.items():
        [leak] = found(secret, b"\x00prefix " + form + b" suffix\xff")
        assert leak.secret == "the secret" and leak.where == "blob", name


@given(secret=secrets_st, before=filler, after=filler, data=st.data())
@GENERATED
def test_r19_generated_secrets_are_found_in_every_form(secret: str, before: bytes, after: bytes,
                                                       data: st.DataObject) -> None:
    name, form = data.draw(st.sampled_from(sorted(leaks.forms(secret).items())))
    assert found(secret, before + form + after), name


@given(secret=secrets_st.filter(lambda s: len(s.encode()) >= 8), before=filler, after=filler,
       encoding=st.sampled_from(["utf-8", "utf-16-le"]), urlsafe=st.booleans())
@GENERATED
def test_r19_base64_of_a_stream_holding_the_secret_is_found_at_every_alignment(
        secret: str, before: bytes, after: bytes, encoding: str, urlsafe: bool) -> None:
    """From 8 bytes on, every alignment leaves at least MIN_BASE64 characters that only the secret makes."""
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    blob = encode(before + secret.encode(encoding, "surrogatepass") + after)
    assert found(secret, b"token=" + blob + b";"), (len(before), encoding, urlsafe)


@given(secret=secrets_st)
@GENERATED
def test_r19_a_json_document_and_a_url_holding_the_secret_are_found(secret: str) -> None:
    for document in (json.dumps({"password": secret}), json.dumps({"password": secret}, ensure_ascii=False)):
        assert found(secret, document.encode("utf-8"))
        assert found(secret, document.encode("utf-16-le"))
    from urllib.parse import quote, urlencode

    assert found(secret, f"http://user:{quote(secret, safe='')}@127.0.0.1:9/x".encode())
    assert found(secret, urlencode({"p": secret}).encode())


def test_r19_a_short_secret_is_not_matched_by_four_base64_characters() -> None:
    """A 6-byte secret at alignment 1 has only 4 characters of its own: random data would hold them."""
    cores = leaks._base64_cores(b"s3cret")
    assert len(cores) == 1 and len(cores[0]) == 8  # alignment 0 only
    stream = base64.b64encode(b"\0s3cret")  # alignment 1: the secret is in no form searched
    assert not found("s3cret", stream) and found("s3cret", base64.b64encode(b"s3cret"))


def test_r19_a_prefix_of_two_thirds_is_found_and_a_shorter_one_is_not() -> None:
    size = len(ASCII_SECRET) * 2 // 3 + 1
    [leak] = found(ASCII_SECRET, b"message: " + ASCII_SECRET[:size].encode() + b"...")
    assert leak.form.startswith("prefix")
    assert not found(ASCII_SECRET, b"message: " + ASCII_SECRET[:size - 2].encode() + b"...")
    assert not found(ASCII_SECRET, b"svc-corp11-")  # the secret's shape alone is no leak
    assert leaks.prefix_forms("abcdefghij") == {}  # a secret too short for a prefix is searched whole


@given(secret=st.from_regex(r"[a-z]{3,8}-[0-9a-f]{16}![A-Z][a-z][0-9]", fullmatch=True),
       blob=st.binary(max_size=4096), text=st.text(max_size=400))
@GENERATED
def test_r19_bytes_that_do_not_hold_the_secret_pass(secret: str, blob: bytes, text: str) -> None:
    """Shaped like the sample's secrets (a tag, 64 random bits): only bytes made from the secret match."""
    assert not found(secret, blob)
    assert not found(secret, text.encode("utf-8") + blob + text.encode("utf-16-le"))


def test_r19_a_leak_names_the_secret_never_its_value() -> None:
    scanner = leaks.LeakScanner([ASCII_SECRET, SECRET])
    [leak] = scanner.text(f"oops {ASCII_SECRET}", "stdout")
    assert str(leak) == "stdout: secret #1 of 2 (UTF-8)"
    with pytest.raises(AssertionError) as info:
        leaks.assert_no_leaks({"target passphrase": SECRET}, texts={"stderr": base64.b64encode(SECRET.encode())})
    assert "stderr: target passphrase (base64" in str(info.value) and SECRET not in str(info.value)


def test_r19_a_check_that_cannot_fail_is_refused() -> None:
    with pytest.raises(ValueError, match="no secret"):
        leaks.LeakScanner([])
    with pytest.raises(ValueError, match="shorter than"):
        leaks.LeakScanner({"pin": "1234"})


# --- containers --------------------------------------------------------------------------------------------
def test_r19_zip_members_and_a_zip_in_a_zip_are_looked_into(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("deep/answers.json", json.dumps({"password": SECRET}) * 50)
    outer = tmp_path / "set.zip"
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", "{}")
        zf.writestr("nested.zip", inner.getvalue())
    assert SECRET.encode() not in outer.read_bytes()  # deflated: the bytes as stored do not show it
    [leak] = leaks.find_leaks({"s": SECRET}, paths=[tmp_path])
    assert leak.where == f"{outer}!nested.zip!deep/answers.json"


@given(garbage=st.binary(min_size=18, max_size=64))
@GENERATED
def test_r19_bytes_that_only_look_like_a_container_are_scanned_as_they_are(garbage: bytes) -> None:
    """An end-of-zip record, a gzip or SQLite header with garbage after it: no error, the bytes still scanned."""
    for fake in (b"PK\x05\x06" + garbage, b"PK\x03\x04" + garbage, leaks.GZIP_MAGIC + garbage,
                 leaks.SQLITE_MAGIC + garbage):
        assert found(SECRET, fake + SECRET.encode() + fake)


def test_r19_a_damaged_zip_member_does_not_hide_the_members_after_it(tmp_path: Path) -> None:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("first.bin", os.urandom(4000))
        zf.writestr("second.json", json.dumps({"password": SECRET}) * 20)
    data = bytearray(packed.getvalue())
    data[100:140] = bytes(40)  # inside the first member's deflated bytes: its CRC no longer matches
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf, pytest.raises((zipfile.BadZipFile, zlib.error)):
        zf.read("first.bin")
    [leak] = found(SECRET, bytes(data))
    assert leak.where == "blob!second.json"


def test_r19_a_gzip_stream_is_looked_into(tmp_path: Path) -> None:
    (tmp_path / "run.log.gz").write_bytes(gzip.compress(f"connecting with {SECRET}\n".encode() * 20))
    [leak] = leaks.find_leaks({"s": SECRET}, paths=[tmp_path])
    assert leak.where.endswith("run.log.gz (gunzipped)")


def _database_with(path: Path, value: str, *, encoding: str = "UTF-8") -> Path:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA encoding = '{encoding}'")
    conn.execute("PRAGMA page_size = 512")
    conn.execute("CREATE TABLE Gid_Setting (Name TEXT, Value TEXT, Data BLOB)")
    conn.execute("INSERT INTO Gid_Setting VALUES ('x', ?, NULL)", (value,))
    conn.commit()
    conn.close()
    return path


def test_r19_a_value_split_over_sqlite_overflow_pages_is_found(tmp_path: Path) -> None:
    """A long value spans overflow pages; a secret across a page boundary is not in the file's bytes as
    such, and is found in the database's values."""
    for offset in range(0, 600, 7):
        db = _database_with(tmp_path / f"split-{offset}.db", "x" * offset + ASCII_SECRET + "y" * 3000)
        if ASCII_SECRET.encode() not in db.read_bytes():
            break
        db.unlink()
    else:
        pytest.fail("no offset put the secret across a page boundary")
    forms = {leak.where: leak.form for leak in leaks.find_leaks({"s": ASCII_SECRET}, paths=[db])}
    assert forms[f"{db} (SQLite values)"] == "UTF-8"
    assert forms.get(str(db), "prefix").startswith("prefix")  # the bytes as stored hold a piece at most


def test_r19_a_utf16_database_and_a_database_inside_a_zip_are_found(tmp_path: Path) -> None:
    db = _database_with(tmp_path / "utf16.db", f"pw={SECRET}", encoding="UTF-16le")
    assert leaks.find_leaks({"s": SECRET}, paths=[db])
    zipped = tmp_path / "set.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(db, "Database/GroupID11.db")
    db.unlink()
    wheres = {leak.where for leak in leaks.find_leaks({"s": SECRET}, paths=[tmp_path])}
    assert f"{zipped}!Database/GroupID11.db" in wheres


def test_r19_a_blob_column_holding_a_zip_is_looked_into(tmp_path: Path) -> None:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("creds.txt", SECRET * 10)
    db = _database_with(tmp_path / "blob.db", "nothing")
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO Gid_Setting VALUES ('y', NULL, ?)", (packed.getvalue(),))
    wheres = {leak.where for leak in leaks.find_leaks({"s": SECRET}, paths=[db])}
    assert any(w.endswith("!creds.txt") for w in wheres), wheres


def test_r19_a_base64_value_folded_in_ldif_is_found(tmp_path: Path) -> None:
    """The ldif package folds lines at 76 columns: a base64 value is cut in pieces by newlines."""
    path = tmp_path / "corp.ldif"
    with path.open("wb") as fh:
        ldif.LDIFWriter(fh, cols=76).unparse("CN=G,DC=corp", {"extensionData": [
            b"\x00\x01" + ("<Query>" + "a" * 45 + SECRET + "</Query>").encode("utf-16-le")]})
    text = path.read_bytes()
    assert b"\n " in text and not leaks.LeakScanner({"s": SECRET})._search(text, "as stored")
    [leak] = leaks.find_leaks({"s": SECRET}, paths=[path])
    assert leak.where == f"{path} (folded lines joined)" and "base64" in leak.form


def test_r19_links_and_special_files_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secrets.json").write_text(json.dumps({"password": SECRET}))
    scanned = tmp_path / "scanned"
    scanned.mkdir()
    (scanned / "link.json").symlink_to(outside / "secrets.json")
    (scanned / "folder").symlink_to(outside)
    os.mkfifo(scanned / "fifo")  # opening it would block
    scanner = leaks.LeakScanner({"s": SECRET})
    assert scanner.path(scanned) == [] and scanner.files == 0


def test_r19_a_process_is_read_from_proc_with_its_children(tmp_path: Path) -> None:
    """The parent reads the argument from a file: only its child's command line holds it."""
    import psutil

    (tmp_path / "arg").write_text(ASCII_SECRET)
    code = ("import pathlib, subprocess, sys, time; arg = pathlib.Path(sys.argv[1]).read_text(); "
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)', arg]); time.sleep(30)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "arg")], env={**os.environ, "LEAKED": SECRET})
    clean = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while not psutil.Process(proc.pid).children() and time.monotonic() < deadline:
            time.sleep(0.05)
        child = psutil.Process(proc.pid).children()[0].pid
        found_where = {(leak.secret, leak.where) for leak in
                       leaks.find_leaks({"arg": ASCII_SECRET, "env": SECRET}, pids=[proc.pid])}
        assert ("arg", f"/proc/{child}/cmdline") in found_where
        assert ("arg", f"/proc/{proc.pid}/cmdline") not in found_where
        assert {("env", f"/proc/{proc.pid}/environ"), ("env", f"/proc/{child}/environ")} <= found_where
        assert leaks.find_leaks({"arg": ASCII_SECRET, "env": SECRET}, pids=[clean.pid]) == []
    finally:
        for each in [*psutil.Process(proc.pid).children(recursive=True)]:
            each.kill()
        for each in (proc, clean):
            each.kill()
            each.wait()


# --- the secrets of a sample, and a clean tree ---------------------------------------------------------------
def test_r19_sample_secrets_are_found_three_ways(sample: helpers.Sample, tmp_path: Path) -> None:
    secrets = leaks.sample_secrets(sample.root)
    assert set(leaks.secret_values(sample.secrets).values()) <= set(secrets.values())
    assert any(name.startswith("generated: job_passwords") for name in secrets)
    assert len(secrets) == len(set(secrets.values())) >= 20
    # without the generator's manifest (a copy, an installation made by hand): decrypted from the source
    copy = helpers.copy_sample(sample.root, tmp_path / "copy")
    (copy / "sample.json").unlink()
    decrypted = leaks.sample_secrets(copy)
    where = {name.split(" #")[0] for name in decrypted if name.startswith("encrypted in")}
    assert "encrypted in GroupID10.db" in where and any(w.endswith(".dtmconfig") for w in where), where
    assert set(decrypted.values()) <= set(secrets.values()) and len(decrypted) >= 12
    # the scanner sees them where they are in clear: the user's own secrets file
    assert leaks.find_leaks(secrets, paths=[sample.root / "secrets.json"])


def test_r19_a_clean_tree_passes(sample: helpers.Sample, tmp_path: Path) -> None:
    """The sample's source holds its secrets encrypted only: in its files, in a deflated zip of them, in a
    gzip of its database, looked into every way, nothing is found."""
    with zipfile.ZipFile(tmp_path / "source.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(sample.source.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(sample.source).as_posix())
    (tmp_path / "db.gz").write_bytes(gzip.compress(sample.database.read_bytes()))
    scanner = leaks.assert_no_leaks(leaks.sample_secrets(sample.root), paths=[sample.source, tmp_path],
                                    texts={"answers.json": sample.answer_file.read_bytes()})
    assert scanner.files >= 22 and scanner.bytes_read > 3 * sample.database.stat().st_size


def test_r19_secret_values_by_key_name() -> None:
    document = {"userName": "CORP\\upgrader", "credential": {"password": "p4ssw0rd!"}, "pfxPassword": "pfx-1234",
                "list": [{"clientSecret": "client-s3cret"}], "passphrase": "short"}
    assert leaks.secret_values(document, keys=leaks.SECRET_KEYS) == {
        "credential.password": "p4ssw0rd!", "pfxPassword": "pfx-1234", "list[0].clientSecret": "client-s3cret"}
    assert "userName" in leaks.secret_values(document)  # a secrets file: every string
