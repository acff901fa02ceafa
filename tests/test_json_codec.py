"""The protocol's JSON codec (issue #19: ``serve`` answers hello without importing the json package)
parses, rejects and writes exactly as json does, on generated values and texts; and ``serve``'s path
to the hello answer imports neither json, re, enum nor signal."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groupid_upgrade.protocol.json_codec import make_dumps, make_loads


def _reject(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


loads = make_loads(parse_constant=_reject)
reference_loads = json.JSONDecoder(parse_constant=_reject).decode

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=values, ensure_ascii=st.booleans())
def test_written_text_is_json_dumps_text_and_reads_back(value: object, ensure_ascii: bool) -> None:
    dumps = make_dumps(ensure_ascii=ensure_ascii, default=str)
    container = {"v": value}
    text = dumps(container)
    assert text == json.dumps(container, ensure_ascii=ensure_ascii, separators=(",", ":"), allow_nan=False,
                              default=str)
    assert loads(text) == reference_loads(text)


def _outcome(parse: object, text: str) -> tuple[str, object]:
    try:
        return "value", parse(text)  # type: ignore[operator]
    except json.JSONDecodeError as exc:
        return "JSONDecodeError", (exc.msg, exc.pos)
    except ValueError as exc:
        return "ValueError", str(exc)
    except RecursionError:
        return "RecursionError", None


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(st.text(alphabet=' \t\n\r{}[]",:0123456789.eE+-truefalsnNaIiy\\u', max_size=30),
                      values.map(json.dumps).flatmap(lambda t: st.sampled_from([t, f"  {t}\n", f"{t} x", t[:-1]]))))
def test_any_text_is_read_or_refused_exactly_as_json_reads_or_refuses_it(text: str) -> None:
    assert _outcome(loads, text) == _outcome(reference_loads, text)


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}'])
def test_nan_and_infinity_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not valid JSON"):
        loads(text)


def test_out_of_range_floats_and_cycles_are_refused_as_json_refuses_them() -> None:
    dumps = make_dumps(ensure_ascii=False, default=str)
    with pytest.raises(ValueError, match="Out of range float"):
        dumps({"x": float("nan")})
    cycle: dict[str, object] = {}
    cycle["self"] = cycle
    with pytest.raises(ValueError, match="Circular reference"):
        dumps(cycle)


def test_serve_answers_hello_without_importing_json_re_enum_or_signal() -> None:
    # what is imported at the moment the answer is written (the log is imported after it, on purpose)
    probe = (
        "import io, sys\n"
        "import groupid_upgrade.__main__\n"
        "from groupid_upgrade.protocol.server import run_server\n"
        "HEAVY = ('json', 're', 'enum', 'signal', 'typing', 'pydantic')\n"
        "class Out(io.BytesIO):\n"
        "    heavy = None\n"
        "    def write(self, data):\n"
        "        if self.heavy is None:\n"
        "            self.heavy = sorted(m for m in HEAVY if m in sys.modules)\n"
        "        return super().write(data)\n"
        "out = Out()\n"
        "run_server(io.BytesIO(b'{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"engine.hello\"}\\n'), out)\n"
        "sys.stderr.write(repr((out.heavy, out.getvalue())))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    heavy, answer = ast.literal_eval(done.stderr.strip().splitlines()[-1])
    assert b'"result"' in answer and b'"engine.hello"' in answer
    assert heavy == []
