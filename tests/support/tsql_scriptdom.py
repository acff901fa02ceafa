"""Microsoft's T-SQL parser (Microsoft.SqlServer.TransactSql.ScriptDom) for the tests, through pwsh.

``find_scriptdom()`` gets pwsh and the ScriptDom assembly the way scripts/test does (scripts/lib/powershell-env.sh:
pinned, from NuGet, cached under ~/.cache/groupid-upgrade) and raises, never skips, when either cannot be had.
``ScriptDom.parse`` parses any number of statements in one pwsh process (tsql_scriptdom.ps1 beside this file)
under the SQL Server 2016 and 2022 grammars.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECKER = Path(__file__).with_name("tsql_scriptdom.ps1")
GRAMMARS = ("TSql130", "TSql160")  # SQL Server 2016, SQL Server 2022


@dataclass(frozen=True)
class ParseError:
    line: int
    column: int
    number: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column} {self.message} ({self.number})"


@dataclass(frozen=True)
class Parsed:
    """What one grammar made of one text: its errors, and the statement types it read (ScriptDom class names)."""

    errors: tuple[ParseError, ...]
    statements: tuple[str, ...]
    details: tuple[str, ...]  # BACKUP and RESTORE: "Kind=VerifyOnly", "Options=Checksum,CopyOnly"


def odbc_as_sent(sql: str) -> str:
    """The text as SQL Server receives it from its ODBC driver: each ``?`` parameter marker becomes ``@P1``,
    ``@P2``, ... (the driver sends the statement through sp_executesql/sp_prepexec with those names). A ``?``
    inside a string literal, a quoted identifier or a comment is text, not a marker."""
    out: list[str] = []
    number = 0
    i = 0
    closers = {"'": "'", "[": "]", '"': '"'}
    while i < len(sql):
        char = sql[i]
        if char in closers:
            close = closers[char]
            j = i + 1
            while j < len(sql):
                if sql[j] == close:
                    if sql[j + 1:j + 2] == close:  # '' ]] "" stand for one
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i:j + 1])
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = len(sql) if j < 0 else j
            out.append(sql[i:j])
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = len(sql) if j < 0 else j + 2
            out.append(sql[i:j])
            i = j
        elif char == "?":
            number += 1
            out.append(f"@P{number}")
            i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class ScriptDom:
    pwsh: str
    dll: str

    def parse(self, items: Sequence[tuple[str, str]], *, timeout: int = 600) -> dict[str, dict[str, Parsed]]:
        """(name, T-SQL text) pairs -> name -> grammar -> Parsed. Names must be unique. The texts are parsed
        as written: pass them through ``odbc_as_sent`` first where they hold ODBC ``?`` markers."""
        names = [name for name, _ in items]
        if len(set(names)) != len(names):
            raise ValueError("the statements' names must be unique")
        with tempfile.TemporaryDirectory(prefix="tsql-scriptdom-") as folder:
            source, result = Path(folder) / "in.jsonl", Path(folder) / "out.jsonl"
            source.write_text("".join(json.dumps({"name": n, "sql": s}) + "\n" for n, s in items), encoding="utf-8")
            done = subprocess.run([self.pwsh, "-NoProfile", "-NonInteractive", "-File", str(CHECKER),
                                   "-ScriptDom", self.dll, "-InputFile", str(source), "-OutputFile", str(result)],
                                  capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout)
            if done.returncode != 0:
                raise RuntimeError(f"{CHECKER.name} failed (exit {done.returncode}): {done.stderr[-2000:]}"
                                   f"{done.stdout[-1000:]}")
            lines = result.read_text(encoding="utf-8").splitlines()
        parsed: dict[str, dict[str, Parsed]] = {}
        for line in lines:
            record = json.loads(line)
            parsed[record["name"]] = {
                grammar: Parsed(errors=tuple(ParseError(**e) for e in r["errors"]),
                                statements=tuple(r["statements"]), details=tuple(r["details"]))
                for grammar, r in record["results"].items()}
        if list(parsed) != names:
            raise RuntimeError(f"{CHECKER.name} answered for {len(parsed)} of {len(names)} statements")
        return parsed


def find_scriptdom() -> ScriptDom:
    """pwsh and the ScriptDom assembly, installed into the cache from NuGet on first use; raises when either
    cannot be had (the reason powershell-env.sh gives). Under scripts/test, which has just ensured both, its
    PWSH and SCRIPTDOM_DLL are taken as they are."""
    pwsh, dll = os.environ.get("PWSH", ""), os.environ.get("SCRIPTDOM_DLL", "")
    if pwsh and dll and Path(pwsh).is_file() and Path(dll).is_file():
        return ScriptDom(pwsh, dll)
    script = (f"source '{REPO / 'scripts/lib/powershell-env.sh'}' && ensure_powershell_env >&2 && "
              "ensure_scriptdom >&2 && printf '%s\\n%s\\n' \"$PWSH\" \"$SCRIPTDOM_DLL\" || "
              "{ echo \"${POWERSHELL_MISSING}${SCRIPTDOM_MISSING}\" >&2; exit 1; }")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=900)
    if done.returncode != 0:
        raise RuntimeError("Microsoft's T-SQL parser (ScriptDom, through pwsh) could not be had: "
                           f"{done.stderr.strip()[-1500:]}")
    pwsh, dll = done.stdout.strip().splitlines()
    return ScriptDom(pwsh, dll)
