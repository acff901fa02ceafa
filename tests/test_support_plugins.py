"""The shared pytest plugins of tests/support: a test using a server is marked ``testbed`` (so
``-m "not testbed"`` starts none), one reaching a server unmarked fails before it starts, and the order
can be reversed or shuffled with the test-bed harness still first."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator

import pytest

from support import servers

pytest_plugins = ["pytester"]

INDEXED = """
import pytest

@pytest.fixture
def indexed(es_node):
    return es_node
"""


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The node is a stand-in here (pytester runs in this process): whatever the plugin does, no real
    server starts; the list says whether the plugin asked for one."""
    calls: list[str] = []

    def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
        calls.append("es_node")
        yield "a stand-in node"

    monkeypatch.setattr(servers, "session_node", stand_in)
    return calls


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "support.servers", "-p", "support.ordering", "-p", "no:cacheprovider", *args)


def test_a_test_taking_a_server_is_marked_and_not_testbed_deselects_it(pytester: pytest.Pytester,
                                                                       started: list[str]) -> None:
    pytester.makeconftest(INDEXED)
    pytester.makepyfile(test_servers="""
        def test_direct(es_node): pass
        def test_through_another_fixture(indexed): pass
        def test_no_server(): pass
    """)
    result = run(pytester, "-m", "not testbed", "-v")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["*test_no_server PASSED*"])
    assert started == []
    run(pytester, "-m", "testbed").assert_outcomes(passed=2, deselected=1)
    assert started == ["es_node"]  # once for the session


def test_a_server_reached_at_run_time_without_the_mark_fails_before_it_starts(pytester: pytest.Pytester,
                                                                             started: list[str]) -> None:
    pytester.makepyfile(test_dynamic="""
        import pytest

        def test_unmarked(request):
            assert request.getfixturevalue("es_node") == "a stand-in node"

        @pytest.mark.testbed
        def test_marked(request):
            assert request.getfixturevalue("es_node") == "a stand-in node"
    """)
    result = run(pytester, "-m", "not testbed")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(["*test_unmarked reaches the test bed's es_node in a run that selected no "
                                 "'testbed' test*no server was started*"])
    assert started == []
    run(pytester).assert_outcomes(passed=2)  # a run with the test bed: the server is up for it anyway
    assert started == ["es_node"]


def _order_files(pytester: pytest.Pytester) -> None:
    """Four files in a package of their own: tests/test_00_testbed_harness.py is imported in this session
    already, and a second module of that name outside a package would not import."""
    log = pytester.path / "order.jsonl"
    body = f"""
        import json
        def record(request):
            with open({str(log)!r}, "a") as fh:
                fh.write(json.dumps(request.node.nodeid) + "\\n")
        def test_one(request): record(request)
        def test_two(request): record(request)
    """
    package = pytester.mkpydir("ordering_case")
    for name in ("test_a", "test_b", "test_c", "test_00_testbed_harness"):
        (package / f"{name}.py").write_text(textwrap.dedent(body))


def _order(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str | None) -> list[str]:
    log = pytester.path / "order.jsonl"
    log.unlink(missing_ok=True)
    if value is None:
        monkeypatch.delenv("GROUPID_TEST_ORDER", raising=False)
    else:
        monkeypatch.setenv("GROUPID_TEST_ORDER", value)
    run(pytester).assert_outcomes(passed=8)
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_the_order_is_reversed_or_shuffled_by_file_and_the_harness_stays_first(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    _order_files(pytester)
    harness = ["ordering_case/test_00_testbed_harness.py::test_one", "ordering_case/test_00_testbed_harness.py::test_two"]
    files = _order(pytester, monkeypatch, None)
    assert files == [*harness, *(f"ordering_case/test_{f}.py::test_{t}" for f in "abc" for t in ("one", "two"))]
    reverse = _order(pytester, monkeypatch, "reverse")
    assert reverse == [*reversed(harness),
                       *(f"ordering_case/test_{f}.py::test_{t}" for f in "cba" for t in ("two", "one"))]
    shuffled = _order(pytester, monkeypatch, "shuffle:7")
    assert shuffled == _order(pytester, monkeypatch, "shuffle:7") and sorted(shuffled) == sorted(files)
    assert shuffled[:2] in (harness, harness[::-1])
    by_file = [nodeid.split("::")[0] for nodeid in shuffled]
    assert by_file == sorted(by_file, key=by_file.index)  # a file's tests stay together
    assert len({tuple(_order(pytester, monkeypatch, f"shuffle:{seed}")) for seed in range(3)}) > 1


def test_an_unknown_order_is_a_usage_error(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_x="def test_x(): pass")
    monkeypatch.setenv("GROUPID_TEST_ORDER", "backwards")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*GROUPID_TEST_ORDER='backwards': expected*"])
