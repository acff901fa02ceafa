"""Loading the answer file: the file, its secrets file, inline settings and explicit overrides.

Precedence (architecture.md, Settings): explicit parameters override the inline ``settings``
object, which overrides the answer file; the secrets file fills in what the answer file leaves out.
Every validation problem is reported at once, each with its field path (``AnswerFileInvalid``).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from .errors import EngineError
from .model.settings import AnswerFile
from .reporting import Reporter
from .safety.reading import FileStamp
from .suggest import did_you_mean

MAX_ANSWER_FILE_BYTES = 4 * 1024 * 1024
_PATH_FIELDS = {"path", "programfiles", "programdata", "cafile", "pfxfile", "logfolder", "secretsfile"}  # lower case


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, recursively for objects; lists and scalars are replaced."""
    out = dict(base)
    for key, value in top.items():
        # Names match case-insensitively (model/base.py): ``SOURCE`` in one file is ``source`` in the other.
        same = [k for k in out if k.lower() == key.lower()]
        merged = next((out[k] for k in same if isinstance(out[k], dict)), None)
        for k in same:
            del out[k]
        if isinstance(value, dict) and merged is not None:
            value = deep_merge(merged, value)
        out[key] = value
    return out


MAX_NESTING = 64  # the answer file's own shape is under 10 deep; this bounds every recursive walk of it


def _too_deep_at(text: str) -> tuple[int, int] | None:
    """Line and column (1-based) where ``text`` first nests deeper than ``MAX_NESTING``, if it does.

    Checked before parsing: json.loads and every walk of the data (merging, paths, validation) recurse,
    and a hostile file must get a clear error, not a RecursionError."""
    depth = 0
    in_string = escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_NESTING:
                line = text.count("\n", 0, index) + 1
                return line, index - (text.rfind("\n", 0, index) + 1) + 1
        elif char in "]}":
            depth -= 1
    return None


def _refuse_deep_inline(data: Any) -> None:
    """The inline settings object, bounded like a file (``MAX_NESTING``), checked without recursing."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > MAX_NESTING:
                raise EngineError(
                    "AnswerFileInvalid",
                    f"The inline settings nest objects or arrays more than {MAX_NESTING} deep.",
                    target="the inline settings",
                    recommended_action="Give the settings the shape docs/answer-file.md documents.",
                    extra={"errors": [{"field": "", "location": "", "message": "nested too deeply"}]},
                )
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))


def _read_json(path: Path, what: str, error_id: str, reads: list[InputRead] | None = None,
               given: Path | None = None) -> dict[str, Any]:
    """The JSON object of ``path``; with ``reads``, also what was read from where (settings_cache.py):
    the identity of ``given`` (the path as the user gave it) taken BEFORE reading, so a change during
    the read leaves a stamp older than the content, never the other way round."""
    try:
        stamp = FileStamp.of(given or path) if reads is not None else None
        return _read_json_file(path, what, error_id, reads, given, stamp)
    except OSError as exc:  # unreadable (permissions, a folder, a device gone): named, a usage error
        raise EngineError(error_id, f"The {what} {path} cannot be read ({exc.strerror or type(exc).__name__}).",
                          target=str(path),
                          recommended_action=f"Check that the {what} exists and that this account may read it.") \
            from None


def _read_json_file(path: Path, what: str, error_id: str, reads: list[InputRead] | None = None,
                    given: Path | None = None, stamp: FileStamp | None = None) -> dict[str, Any]:
    from .safety.reading import FileRefused, read_bytes
    from .safety.strict_json import JsonRefused, loads

    try:
        raw = read_bytes(path, limit=MAX_ANSWER_FILE_BYTES)
    except FileRefused as exc:
        missing = exc.reason == "it does not exist"
        raise EngineError(
            "AnswerFileNotFound" if missing and error_id == "AnswerFileInvalid" else error_id,
            f"The {what} {path} does not exist." if missing else f"The {what} {path} cannot be read: {exc.reason}.",
            target=str(path),
            recommended_action=f"Check the path of the {what}." if missing else
            f"Give the path of the {what} itself: a regular file of at most {MAX_ANSWER_FILE_BYTES} bytes.",
        ) from None
    if reads is not None:
        reads.append(InputRead(given or path, stamp, hashlib.sha256(raw).hexdigest()))
    try:
        text = raw.decode("utf-8-sig")
        too_deep = _too_deep_at(text)
        if too_deep is not None:
            line, column = too_deep
            raise EngineError(
                error_id,
                f"The {what} {path} nests objects or arrays more than {MAX_NESTING} deep at line {line}, "
                f"column {column}.",
                target=str(path),
                recommended_action=f"Give the {what} the shape docs/answer-file.md documents.",
                extra={"errors": [{"field": "", "location": f"line {line}, column {column}",
                                   "message": "nested too deeply"}]},
            )
        data = loads(text)
    except UnicodeDecodeError as exc:
        raise EngineError(error_id, f"The {what} {path} is not UTF-8 text (byte {exc.start + 1}).",
                          target=str(path), recommended_action="Save the file as UTF-8.") from None
    except JsonRefused as exc:
        raise EngineError(
            error_id,
            f"The {what} {path} is refused: {exc.problem} at {exc.field or 'the top level'}.",
            target=str(path),
            recommended_action="Give each key once and every number as a finite value within its range.",
            extra={"errors": [{"field": exc.field, "location": exc.field, "message": exc.problem}]},
        ) from None
    except json.JSONDecodeError as exc:
        raise EngineError(
            error_id,
            f"The {what} {path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            target=str(path),
            recommended_action="Fix the JSON at that position.",
            extra={"errors": [{"field": "", "location": f"line {exc.lineno}, column {exc.colno}",
                               "message": exc.msg}]},
        ) from None
    if not isinstance(data, dict):
        raise EngineError(error_id, f"The {what} {path} must hold a JSON object.", target=str(path),
                          recommended_action="Start the file with { and end it with }.")
    return data


def _refuse_inexact_answers(data: dict[str, Any], name: str) -> None:
    """Answers are free-form until the planner reads them; none takes a boolean or a fraction (a store id
    is an integer, the rest are objects or text), so those are refused here, naming the question."""
    answers = next((v for k, v in data.items() if isinstance(k, str) and k.lower() == "answers"), None)
    if not isinstance(answers, dict):
        return
    errors = [{"field": f"answers.{qid}", "location": f"answers.{qid}",
               "message": "a boolean is not an answer" if isinstance(value, bool) else
               "an integer is expected, not a number with a fraction or an exponent"}
              for qid, value in answers.items() if isinstance(value, (bool, float))]
    if errors:
        raise EngineError(
            "AnswerFileInvalid",
            f"The answer file {name} is invalid: " + ", ".join(f"{e['field']} ({e['message']})" for e in errors[:10])
            + ".", target=name, recommended_action="Give each answer the shape docs/answer-file.md describes.",
            extra={"errors": errors})


SECRET_FIELDS = {"passphrase", "password", "clientsecret", "pfxpassword"}  # lower case
SECRET_PLACEHOLDER = "<secret: "  # how a placeholder of an answer template begins


def secret_placeholder(field: str, secrets_file: str) -> str:
    return f"{SECRET_PLACEHOLDER}put it at {field} in {secrets_file}, and remove this line>"


def _drop_placeholders(data: Any) -> Any:
    """A placeholder an answer template left in place of a secret is as if the field were not given,
    so the secrets file's value (merged under the answer file) is the one used."""
    if isinstance(data, dict):
        return {k: _drop_placeholders(v) for k, v in data.items()
                if not (isinstance(k, str) and k.lower() in SECRET_FIELDS and isinstance(v, str)
                        and v.startswith(SECRET_PLACEHOLDER))}
    if isinstance(data, list):
        return [_drop_placeholders(v) for v in data]
    return data


def read_answer_document(path: Path) -> dict[str, Any]:
    """The answer file as written (its relative paths as they are), read through the same checks."""
    return _read_json(path.expanduser().resolve(), "answer file", "AnswerFileInvalid")


def contains_secrets(data: Any) -> bool:
    if isinstance(data, dict):
        return any((isinstance(k, str) and k.lower() in SECRET_FIELDS and v) or contains_secrets(v)
                   for k, v in data.items())
    if isinstance(data, list):
        return any(contains_secrets(v) for v in data)
    return False


def _readable_by_others(path: Path, warnings: list[str], reporter: Reporter | None) -> None:
    if os.name != "posix":
        return
    mode = path.stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.append(f"{path} holds secrets and is readable by other users; restrict it (chmod 600).")
        if reporter is not None:
            reporter.log("warning", warnings[-1])


def _resolve_paths(data: Any, base: Path) -> Any:
    """Relative paths in the answer file are relative to its folder."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if isinstance(key, str) and key.lower() in _PATH_FIELDS and isinstance(value, str) and value and not Path(value).is_absolute():
                out[key] = str(base / value)
            else:
                out[key] = _resolve_paths(value, base)
        return out
    if isinstance(data, list):
        return [_resolve_paths(v, base) for v in data]
    return data


def _field_path(loc: tuple[Any, ...], data: Any) -> str:
    """The dotted path of a field as the user wrote it: pydantic puts the tag of a tagged union
    (``source.database.sqlite.path``) in ``loc``; the file has no such level, so it is left out."""
    parts: list[str] = []
    node = data
    for part in loc:
        if isinstance(node, dict):
            key = next((k for k in node if isinstance(k, str) and k.lower() == str(part).lower()), None)
            kind = next((v for k, v in node.items() if isinstance(k, str) and k.lower() == "kind"), None)
            if key is None and isinstance(kind, str) and kind.lower() == str(part).lower():
                continue  # the union's tag, not a field
            node = node.get(key) if key is not None else None
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
        parts.append(str(part))
    return ".".join(parts)


def known_fields(loc: tuple[Any, ...]) -> list[str]:
    """The field names (camelCase) of the answer-file object at ``loc``; [] when it is not a model."""
    model: Any = AnswerFile
    for part in loc:
        if isinstance(part, int):
            continue
        candidates = _models_in(model)
        nxt = None
        for candidate in candidates:
            for name, field in candidate.model_fields.items():
                if str(part).lower() in (name.lower(), (field.alias or name).lower()):
                    nxt = field.annotation
        if nxt is None:  # a tagged union's tag (pydantic puts it in the location): choose that member
            tagged = [c for c in candidates if any(str(part) in get_args(f.annotation)
                                                   for f in c.model_fields.values())]
            if tagged:
                nxt = tagged[0]
        if nxt is None:
            return []
        model = nxt
    names: list[str] = []
    for candidate in _models_in(model):
        names.extend(field.alias or name for name, field in candidate.model_fields.items())
    return names


def _models_in(annotation: Any) -> list[Any]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[Any] = []
    for arg in get_args(annotation):
        out.extend(_models_in(arg))
    return out


def validation_errors(exc: ValidationError, data: Any = None) -> list[dict[str, str]]:
    """Each failing field, where it is, and what was wrong; never the value (it may be a secret)."""
    errors = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = _field_path(tuple(err["loc"]), data)
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            suggestion = did_you_mean(str(err["loc"][-1]), known_fields(tuple(err["loc"][:-1])))
            message = f"unknown field (check its spelling in docs/answer-file.md).{suggestion}"
        errors.append({"field": loc, "location": loc, "message": message})
    return errors


def load_answer_file(
    path: str | Path | None = None,
    *,
    inline: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> AnswerFile:
    return load_answer_file_traced(path, inline=inline, overrides=overrides, reporter=reporter).answers


@dataclass(frozen=True)
class InputRead:
    """One file an answer file was loaded from: the path as given, its identity just before it was read
    (None when it could not be taken), and the SHA-256 of the bytes read."""

    given: Path
    stamp: FileStamp | None
    digest: str


@dataclass(frozen=True)
class LoadedAnswers:
    """An answer file loaded, with the warnings its loading gives and the files it was read from."""

    answers: AnswerFile
    warnings: tuple[str, ...]
    reads: tuple[InputRead, ...]

    def log_warnings(self, reporter: Reporter | None) -> None:
        if reporter is not None:
            for warning in self.warnings:
                reporter.log("warning", warning)


def load_answer_file_traced(
    path: str | Path | None = None,
    *,
    inline: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> LoadedAnswers:
    """``load_answer_file``, also returning its warnings (logged to ``reporter`` as they arise) and what was
    read from which file."""
    if path is None and not inline:
        raise EngineError(
            "AnswerFileInvalid",
            "No answer file and no settings were given.",
            recommended_action="Pass answerFile (a path) or settings (the same object inline).",
        )
    data: dict[str, Any] = {}
    inputs: list[tuple[Path, str]] = []
    reads: list[InputRead] = []
    warnings: list[str] = []
    file_has_secrets = False
    base = Path.cwd()
    name = "the inline settings"
    if path is not None:
        given = Path(path).expanduser()
        file = given.resolve()
        name = str(file)
        data = _drop_placeholders(_resolve_paths(_read_json(file, "answer file", "AnswerFileInvalid", reads, given),
                                                 file.parent))
        inputs.append((file, "the answer file"))
        file_has_secrets = contains_secrets(data)
        base = file.parent
    if inline:
        _refuse_deep_inline(inline)
        data = deep_merge(data, _drop_placeholders(_resolve_paths(inline, base)))
    secrets_file = next((v for k, v in data.items() if isinstance(k, str) and k.lower() == "secretsfile"), None)
    if isinstance(secrets_file, str):
        secrets_path = Path(secrets_file)
        secrets = _resolve_paths(_read_json(secrets_path, "secrets file", "SecretsFileInvalid", reads),
                                 secrets_path.parent)
        inputs.append((secrets_path, "the secrets file"))
        _readable_by_others(secrets_path, warnings, reporter)
        data = deep_merge(secrets, data)
    if path is not None and file_has_secrets:
        _readable_by_others(Path(path), warnings, reporter)
    if overrides:
        data = deep_merge(data, {k: v for k, v in overrides.items() if v is not None})
    _refuse_inexact_answers(data, name)
    try:
        answers = AnswerFile.model_validate(data)
    except ValidationError as exc:
        errors = validation_errors(exc, data)
        fields = ", ".join(e["field"] + " (" + e["message"] + ")" for e in errors[:10])
        more = f" and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise EngineError(
            "AnswerFileInvalid",
            f"The answer file {name} is invalid: {fields}{more}.",
            target=name,
            recommended_action="Correct each field listed; docs/answer-file.md describes every field.",
            extra={"errors": errors},
        ) from None
    answers._inputs = inputs
    return LoadedAnswers(answers, tuple(warnings), tuple(reads))
