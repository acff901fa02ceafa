"""R19's one leak checker: does a secret show, in any form, in what the engine printed, wrote or exposed?

A secret is found when any of these byte strings of it is in the bytes scanned (``forms``):

- the text of the secret, JSON-escaped (ASCII-only and not), URL-encoded (``%XX`` upper- and
  lower-case, ``+`` for spaces) or XML-escaped, each in UTF-8, UTF-16LE and UTF-16BE;
- hex (lower- and upper-case) and base64 (standard and URL-safe alphabets) of the UTF-8 and UTF-16LE
  of each of those texts, at any offset in an encoded stream: the base64 characters that depend only
  on the secret's own bytes are searched, at each of the three alignments (when they are at least
  ``MIN_BASE64``: a 6- or 7-byte secret leaves 4 such characters at two of them, too few to mean a leak);
- a prefix of the secret, two thirds of it and at least ``PREFIX_MIN`` characters, in clear text
  (UTF-8, UTF-16LE, UTF-16BE): a truncated secret is still a leak.

What is scanned, recursively (``LeakScanner.path``): every file under a folder (links are not
followed; FIFOs, sockets and devices are not opened), and inside each file or captured stream: the
members of a zip, a gzip stream, the text and blob values of every table of an SQLite database (a
value longer than a page is split over overflow pages in the file's bytes), LDIF and other text with
folded lines unfolded (``"\\n "`` continuations). ``LeakScanner.process`` reads a live process and
its children: ``/proc/<pid>/cmdline``, ``environ`` and every thread's ``comm``.

Secrets shorter than ``MIN_LENGTH`` are refused (they would match by chance); a leak is reported
with the secret's name and the form found, never with its value::

    leaks.assert_no_leaks(secrets, texts={"plan stdout": done.stdout}, paths=[target, logs])

``sample_secrets(root)`` is every secret of a generated sample, found three ways (its secrets file,
the generator's values for its seed, every ``enc:v1:`` value of its source decrypted).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import json
import math
import os
import re
import sqlite3
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape as xml_escape

MIN_LENGTH = 6
MIN_BASE64 = 8  # base64 characters searched at the least (48 bits: no chance match in what tests scan)
PREFIX_MIN = 10
MAX_DEPTH = 4  # containers inside containers (a database in a zip in a zip ...)
MAX_INFLATED = 512 * 1024 * 1024  # a zip or gzip member larger than this is scanned as it is stored
SQLITE_MAGIC = b"SQLite format 3\x00"
ZIP_MAGIC = b"PK\x03\x04"
GZIP_MAGIC = b"\x1f\x8b"
TOKEN = re.compile(r"enc:v1:[A-Za-z0-9+/=]+")
SECRET_KEYS = frozenset({"passphrase", "password", "clientsecret", "pfxpassword", "secret", "token", "apikey"})
# base64 in the URL-safe alphabet is searched as standard base64 in a copy of the bytes translated so
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_TEXT_ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be")
_CODED_ENCODINGS = ("utf-8", "utf-16-le")


@dataclass(frozen=True)
class Leak:
    where: str  # "plan stdout", a file's path, "set.zip!Database/GroupID11.db (SQLite values)", ...
    secret: str  # the secret's name, never its value
    form: str  # "UTF-8", "base64 of UTF-16LE", "prefix (20 of 29 characters) in UTF-8", ...

    def __str__(self) -> str:
        return f"{self.where}: {self.secret} ({self.form})"


def _texts(secret: str) -> dict[str, str]:
    """The secret as the engine could write it in text: as is, or escaped for JSON, a URL or XML."""
    url = quote(secret, safe="")
    out = {
        "": secret,
        "JSON-escaped ": json.dumps(secret)[1:-1],
        "JSON-escaped (non-ASCII kept) ": json.dumps(secret, ensure_ascii=False)[1:-1],
        "URL-encoded ": url,
        "URL-encoded (lower-case hex) ": re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), url),
        "URL-encoded (form) ": quote_plus(secret),
        "URL-encoded (path) ": quote(secret),
        "XML-escaped ": xml_escape(secret, {'"': "&quot;", "'": "&apos;"}),
        "XML-escaped (numeric quotes) ": xml_escape(secret, {'"': "&#34;", "'": "&#39;"}),
    }
    return _unique(out)


def _unique(named: Mapping[str, Any]) -> dict[str, Any]:
    seen: set[Any] = set()
    out: dict[str, Any] = {}
    for name, value in named.items():
        if value and value not in seen:
            seen.add(value)
            out[name] = value
    return out


def _base64_cores(data: bytes) -> list[bytes]:
    """The base64 characters that encode ``data``'s bytes alone, for each alignment of ``data`` in a stream."""
    out = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data)
        start = 4 * ((shift + 2) // 3)
        end = 4 * ((shift + len(data)) // 3)
        if end - start >= MIN_BASE64:  # shorter, it would match by chance in a few megabytes
            out.append(encoded[start:end])
    return out


def forms(secret: str) -> dict[str, bytes]:
    """Every form the scanner searches for a secret, by a name that says what it is.

    Base64 forms are in the standard alphabet: the scanner finds their URL-safe twins by searching a
    translated copy of the bytes too.
    """
    named: dict[str, bytes] = {}
    for escape, text in _texts(secret).items():
        for encoding in _TEXT_ENCODINGS:
            named[f"{escape}{encoding.upper()}"] = text.encode(encoding, "surrogatepass")
        for encoding in _CODED_ENCODINGS:
            raw = text.encode(encoding, "surrogatepass")
            named[f"hex of {escape}{encoding.upper()}"] = raw.hex().encode()
            named[f"HEX of {escape}{encoding.upper()}"] = raw.hex().upper().encode()
            for i, core in enumerate(_base64_cores(raw)):
                named[f"base64 (alignment {i}) of {escape}{encoding.upper()}"] = core
    return _unique(named)


def prefix_forms(secret: str) -> dict[str, bytes]:
    """The secret's leading two thirds (at least ``PREFIX_MIN`` characters) in clear text; none for a
    secret too short to have such a prefix."""
    size = max(PREFIX_MIN, math.ceil(len(secret) * 2 / 3))
    if size >= len(secret):
        return {}
    prefix = secret[:size]
    return {f"prefix ({size} of {len(secret)} characters) in {encoding.upper()}": prefix.encode(encoding,
                                                                                                "surrogatepass")
            for encoding in _TEXT_ENCODINGS}


@dataclass
class _Secret:
    name: str
    plain: list[tuple[str, bytes]]  # searched in the bytes as they are
    base64: list[tuple[str, bytes]]  # searched in the bytes and in their URL-safe -> standard translation
    prefixes: list[tuple[str, bytes]]


def _named(secrets: Mapping[str, str] | Iterable[str]) -> dict[str, str]:
    if isinstance(secrets, Mapping):
        named = dict(secrets)
    else:
        values = list(dict.fromkeys(secrets))
        named = {f"secret #{i + 1} of {len(values)}": value for i, value in enumerate(values)}
    if not named:
        raise ValueError("no secret to look for: a leak check that looks for nothing cannot fail")
    short = [name for name, value in named.items() if not isinstance(value, str) or len(value) < MIN_LENGTH]
    if short:
        raise ValueError(f"secrets shorter than {MIN_LENGTH} characters would match by chance: {short}")
    return named


@dataclass
class LeakScanner:
    """Scans texts, bytes, files, folders and processes for the secrets it was made with; counts what it read."""

    secrets: Mapping[str, str] | Iterable[str]
    files: int = 0
    bytes_read: int = 0
    streams: int = 0
    _compiled: list[_Secret] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.secrets = _named(self.secrets)
        self._compiled = []
        for name, value in self.secrets.items():
            every = forms(value)
            self._compiled.append(_Secret(
                name=name,
                plain=[(f, b) for f, b in every.items() if not f.startswith("base64")],
                base64=[(f, b) for f, b in every.items() if f.startswith("base64")],
                prefixes=list(prefix_forms(value).items())))

    # --- what is scanned ------------------------------------------------------------------------------------
    def text(self, value: str | bytes, where: str) -> list[Leak]:
        """A captured stream or message (str is scanned as UTF-8)."""
        data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
        self.streams += 1
        return self.data(data, where)

    def data(self, data: bytes, where: str, depth: int = 0, *, file: Path | None = None) -> list[Leak]:
        """Bytes, and whatever they contain (zip members, gzip, SQLite values, unfolded lines); ``file``:
        where they were read from (an SQLite database is then opened in place)."""
        self.bytes_read += len(data)
        found = self._search(data, where)
        if depth >= MAX_DEPTH:
            return found
        for inner_where, inner in _inside(data, where, file):
            found += self.data(inner, inner_where, depth + 1)
        return found

    def path(self, path: Path) -> list[Leak]:
        """A file, or every file under a folder (links not followed, special files not opened)."""
        path = Path(path)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return []
        if stat.S_ISDIR(mode):
            found: list[Leak] = []
            for dirpath, _dirs, names in os.walk(path):
                for name in sorted(names):
                    found += self.path(Path(dirpath) / name)
            return found
        if not stat.S_ISREG(mode):
            return []
        self.files += 1
        return self.data(path.read_bytes(), str(path), file=path)

    def process(self, pid: int) -> list[Leak]:
        """A live process and its children: command line, environment and thread names (Linux /proc)."""
        found: list[Leak] = []
        for where, data in process_images(pid).items():
            self.streams += 1
            found += self.data(data, where)
        return found

    def scan(self, *, texts: Mapping[str, str | bytes] | Iterable[str | bytes] = (), paths: Iterable[Path] = (),
             pids: Iterable[int] = ()) -> list[Leak]:
        found: list[Leak] = []
        named = texts.items() if isinstance(texts, Mapping) else ((f"output #{i + 1}", t) for i, t in enumerate(texts))
        for where, value in named:
            found += self.text(value, where)
        for path in paths:
            found += self.path(Path(path))
        for pid in pids:
            found += self.process(pid)
        return found

    # --- the search ------------------------------------------------------------------------------------------
    def _search(self, data: bytes, where: str) -> list[Leak]:
        if not data:
            return []
        translated = data.translate(_URLSAFE_TO_STANDARD) if (b"-" in data or b"_" in data) else data
        found = []
        for secret in self._compiled:
            form = next((f for f, b in secret.plain if b in data), None)
            if form is None:
                form = next((f for f, b in secret.base64 if b in data or b in translated), None)
            if form is None:
                form = next((f for f, b in secret.prefixes if b in data), None)
            if form is not None:
                found.append(Leak(where, secret.name, form))
        return found


def _inside(data: bytes, where: str, file: Path | None) -> Iterator[tuple[str, bytes]]:
    """What ``data`` holds that its bytes do not show as they are."""
    if data.startswith(ZIP_MAGIC) or (b"PK\x05\x06" in data[-65_557:] and zipfile.is_zipfile(io.BytesIO(data))):
        yield from _zip_members(data, where)
    if data.startswith(GZIP_MAGIC):
        with contextlib.suppress(OSError, EOFError, zlib.error, ValueError):
            yield f"{where} (gunzipped)", gzip.GzipFile(fileobj=io.BytesIO(data)).read(MAX_INFLATED)
    if data.startswith(SQLITE_MAGIC):
        yield from _sqlite_values(data, where, file)
    if b"\n " in data and not data.startswith((ZIP_MAGIC, GZIP_MAGIC, SQLITE_MAGIC)):
        # LDIF folds long lines (base64 values too) with a newline and one space
        yield f"{where} (folded lines joined)", re.sub(rb"\r?\n ", b"", data)


def _zip_members(data: bytes, where: str) -> Iterator[tuple[str, bytes]]:
    """Each member of a zip, inflated. What only looks like a zip (a database holding the bytes of an end
    record) reads as garbage, and an encrypted member cannot be read: those are left to the bytes as stored."""
    unreadable = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError, OSError)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except unreadable:
        return
    with zf:
        for info in zf.infolist():
            if info.is_dir() or info.file_size > MAX_INFLATED:
                continue
            try:
                member = zf.read(info)
            except unreadable:
                continue
            yield f"{where}!{info.filename}", member


def _sqlite_values(data: bytes, where: str, file: Path | None) -> Iterator[tuple[str, bytes]]:
    """Every text and blob value of every table of a database, together, one per line; then each value that
    is a zip, gzip or database on its own, to be looked into. Nothing when SQLite cannot read it (its
    bytes were scanned as they are)."""
    with contextlib.ExitStack() as stack:
        if file is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="leak-scan-"))
            file = Path(folder) / "copy.db"
            file.write_bytes(data)
        texts: list[bytes] = []
        blobs: list[tuple[str, bytes]] = []
        try:
            conn = stack.enter_context(contextlib.closing(
                sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro&immutable=1", uri=True)))
            conn.text_factory = bytes  # as stored, undecodable text included
            tables = [row[0].decode("utf-8", "replace")
                      for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                for row in conn.execute('SELECT * FROM "' + table.replace('"', '""') + '"'):
                    for value in row:  # text and blobs alike come as bytes
                        if isinstance(value, bytes):
                            texts.append(value)
                            if value.startswith((ZIP_MAGIC, GZIP_MAGIC, SQLITE_MAGIC)):
                                blobs.append((f"{where} (SQLite value in {table})", value))
        except sqlite3.Error:
            pass  # a damaged database: what was read so far is scanned
        if texts:
            yield f"{where} (SQLite values)", b"\n".join(texts)
        yield from blobs


def process_images(pid: int) -> dict[str, bytes]:
    """What anyone on the machine can read of a live process and of its children: ``/proc/<pid>/cmdline``,
    ``environ`` and each thread's ``comm``, by that path. A process gone meanwhile is left out."""
    import psutil

    pids = [pid]
    with contextlib.suppress(psutil.Error):
        pids += [child.pid for child in psutil.Process(pid).children(recursive=True)]
    out: dict[str, bytes] = {}
    for each in pids:
        proc = Path(f"/proc/{each}")
        parts = [proc / "cmdline", proc / "environ"]
        with contextlib.suppress(OSError):
            parts += sorted(task / "comm" for task in (proc / "task").iterdir())
        for part in parts:
            with contextlib.suppress(OSError):
                out[f"/proc/{each}/{part.relative_to(proc)}"] = part.read_bytes()
    return out


def find_leaks(secrets: Mapping[str, str] | Iterable[str], *,
               texts: Mapping[str, str | bytes] | Iterable[str | bytes] = (), paths: Iterable[Path] = (),
               pids: Iterable[int] = ()) -> list[Leak]:
    """Every place a secret shows in ``texts`` (captured output, messages), ``paths`` (files and folders,
    recursively) or ``pids`` (live processes)."""
    return LeakScanner(secrets).scan(texts=texts, paths=paths, pids=pids)


def assert_no_leaks(secrets: Mapping[str, str] | Iterable[str], *,
                    texts: Mapping[str, str | bytes] | Iterable[str | bytes] = (), paths: Iterable[Path] = (),
                    pids: Iterable[int] = ()) -> LeakScanner:
    """Fails naming every leak (secret by name, where, in which form); returns the scanner (its counts)."""
    scanner = LeakScanner(secrets)
    found = scanner.scan(texts=texts, paths=paths, pids=pids)
    assert not found, f"{len(found)} secret leak(s) (R19):\n" + "\n".join(map(str, found[:30]))
    return scanner


# --- which secrets ----------------------------------------------------------------------------------------------
def secret_values(document: Any, *, keys: Iterable[str] | None = None, min_length: int = MIN_LENGTH
                  ) -> dict[str, str]:
    """The strings of a secrets file, answer file or settings, by their dotted path.

    ``keys`` None: every string (a secrets file holds secrets and nothing else); otherwise only the
    strings under a key of that name (any case), such as ``SECRET_KEYS``. Strings shorter than
    ``min_length`` are left out.
    """
    wanted = None if keys is None else {k.lower() for k in keys}
    out: dict[str, str] = {}

    def walk(node: Any, path: str, under_secret: bool) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key),
                     under_secret or (wanted is not None and str(key).lower() in wanted))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]", under_secret)
        elif isinstance(node, str) and (wanted is None or under_secret) and len(node) >= min_length:
            out[path] = node

    walk(document, "", False)
    return out


def sample_secrets(root: Path) -> dict[str, str]:
    """Every secret of a generated sample (or a copy of one): the strings of its secrets file, the values
    its generator makes from the sample's seed (``sample.json``), and every ``enc:v1:`` value of its
    source (database and files) decrypted with the source passphrase. By name; duplicates once."""
    from groupid_upgrade.crypto import CHECK_PLAINTEXT, SecretBox
    from groupid_upgrade.errors import EngineError
    from groupid_upgrade.sample.generator import SampleGenerator, SampleSpec

    root = Path(root)
    answers = json.loads((root / "answers.json").read_text(encoding="utf-8"))
    secrets_file = root / answers.get("secretsFile", "secrets.json")
    document = json.loads(secrets_file.read_text(encoding="utf-8"))
    found = {f"secrets file: {k}": v for k, v in secret_values(document).items()}
    manifest = root / "sample.json"
    if manifest.is_file() and "seed" in (spec := json.loads(manifest.read_text(encoding="utf-8"))):
        generated = SampleGenerator(SampleSpec(out=root / "unused", seed=spec["seed"])).secrets
        for name, value in vars(generated).items():
            values = value.items() if isinstance(value, dict) else [("", value)]
            for key, one in values:
                if isinstance(one, str) and len(one) >= MIN_LENGTH:
                    found[f"generated: {name}{'.' + key if key else ''}"] = one
    passphrase = document.get("source", {}).get("passphrase") or answers["source"].get("passphrase")
    database = root / answers["source"]["database"]["path"]
    if passphrase and database.is_file():
        conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
        try:
            salt = dict(conn.execute("SELECT Name, Value FROM Svc_Setting"))["PassphraseSalt"]
        finally:
            conn.close()
        box = SecretBox(passphrase, salt, owner="source")
        source = [root / answers["source"][key] for key in ("programFiles", "programData")]
        texts = [(str(database), b"\n".join(b for _, b in _sqlite_values(b"", str(database), database)
                                             ).decode("utf-8", "replace"))]
        for folder in source:
            texts += [(str(p), p.read_text(encoding="utf-8", errors="replace"))
                      for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()]
        for where, text in texts:
            for i, token in enumerate(dict.fromkeys(TOKEN.findall(text))):
                try:
                    value = box.decrypt(token, what=where)
                except (EngineError, ValueError):  # another key's (a fault of the sample), or not a token
                    continue
                if len(value) >= MIN_LENGTH and value != CHECK_PLAINTEXT.decode():
                    found[f"encrypted in {Path(where).name} #{i + 1}"] = value
    unique: dict[str, str] = {}
    for name, value in found.items():
        if value not in unique.values():
            unique[name] = value
    return unique
