"""Test order: the test-bed harness first, before any session fixture has started a server.

tests/test_00_testbed_harness.py runs ``up`` and ``down`` on the fixed loopback addresses and the default
Elasticsearch port; pytest collects ``tests/reliability/`` before the files of ``tests/`` (r < t), and
the suites there start the same servers, so the name alone no longer puts the harness first.
"""

from __future__ import annotations

import pytest

HARNESS = "test_00_testbed_harness.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name != HARNESS)  # stable: every other test keeps its order
