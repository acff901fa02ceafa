"""pytest plugin: the order tests run in, and a way to shake it (no test may need another to run first).

``GROUPID_TEST_ORDER``:

- unset or ``files``: pytest's own order (files as collected, tests in the order written);
- ``reverse``: the files in reverse order, and the tests of each file in reverse order too;
- ``shuffle`` or ``shuffle:SEED``: files, and the tests in each file, in a random order (the seed is
  printed in the header; give it back to replay an order).

In every order, tests/test_00_testbed_harness.py runs first: it runs the test bed's ``up`` and ``down``
on the fixed loopback addresses and the default Elasticsearch port, which it must do before any session
fixture has started a server there (pytest collects ``tests/reliability/`` before the files of
``tests/``, so its name alone does not put it first). That is the one order the suite relies on.
"""

from __future__ import annotations

import os
import random
from itertools import groupby

import pytest

ENV = "GROUPID_TEST_ORDER"
HARNESS = "test_00_testbed_harness.py"


def order() -> tuple[str, int | None]:
    """The order asked for, and the shuffle's seed."""
    value = os.environ.get(ENV, "").strip().lower() or "files"
    kind, _, seed = value.partition(":")
    if kind not in ("files", "reverse", "shuffle") or (seed and (kind != "shuffle" or not seed.isdigit())):
        raise pytest.UsageError(f"{ENV}={value!r}: expected 'files', 'reverse', 'shuffle' or 'shuffle:SEED'")
    return kind, (int(seed) if seed else None)


def pytest_configure(config: pytest.Config) -> None:
    kind, seed = order()
    if kind == "shuffle" and seed is None:
        # drawn once, here: pytest-xdist's workers inherit the variable, and must all collect the same order
        os.environ[ENV] = f"shuffle:{random.SystemRandom().randrange(10**6)}"


def arrange(items: list[pytest.Item], kind: str, seed: int | None) -> list[pytest.Item]:
    """``items`` in the order asked for, file by file (a file's tests stay together: module fixtures are
    set up once), the harness first."""
    files = [list(group) for _, group in groupby(items, key=lambda item: item.path)]
    if kind == "reverse":
        files = [list(reversed(tests)) for tests in reversed(files)]
    elif kind == "shuffle":
        rng = random.Random(seed)
        rng.shuffle(files)
        for tests in files:
            rng.shuffle(tests)
    arranged = [item for tests in files for item in tests]
    arranged.sort(key=lambda item: item.path.name != HARNESS)  # stable: every other test keeps its place
    return arranged


def describe() -> str:
    kind, seed = order()
    return f"test order: {kind}" + (f" (seed {seed}: {ENV}=shuffle:{seed} replays it)" if seed is not None else "")


def pytest_report_header(config: pytest.Config) -> str:
    return describe()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # printed even with -q (the header is not), so a failure in another order can be replayed
    if order()[0] != "files":
        terminalreporter.write_line(describe())


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # trylast: after -m and -k have deselected, so the order is that of what runs
    kind, seed = order()
    items[:] = arrange(items, kind, seed)
