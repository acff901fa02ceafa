"""pytest plugin: the test bed's servers, one fixture each for the whole session, and the ``testbed`` mark.

Registered once, by tests/conftest.py; a test module never registers a server fixture itself (two
registrations under two module names would make two fixtures, and could start a server twice):

- ``es_node``: the session's one Elasticsearch 8 node (tests/testbed/fixtures_es.py);
- ``samba_corp``, ``samba_fabrikam``: the two Samba AD domain controllers (tests/testbed/fixtures_samba.py).

A test that takes one of them, directly or through another fixture, is marked ``testbed`` at
collection, so ``-m "not testbed"`` runs no server. A test that reaches one only at run time
(``request.getfixturevalue``) must carry the mark itself: in a run that selected no ``testbed`` test
(``-m "not testbed"``), the server fixtures refuse to start anything and name the test that asked, so
such a run never starts the Samba DCs on the fixed loopback ports other runs use.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.fixtures_es import EsNode, session_node
from testbed.fixtures_samba import CORP, FABRIKAM, session_dc

SERVER_FIXTURES = ("es_node", "samba_corp", "samba_fabrikam")
MARK = "testbed"
_SELECTED = pytest.StashKey[bool]()  # did the run select any test marked testbed?


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK}: needs the Samba / Elasticsearch test bed (the session's servers)")


def servers_used(item: pytest.Item) -> list[str]:
    """The server fixtures in a test's fixture closure (those it takes at collection time)."""
    return [name for name in SERVER_FIXTURES if name in getattr(item, "fixturenames", ())]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # tryfirst: the mark is there before ``-m`` deselects (the mark plugin's hook runs after this one)
    for item in items:
        if servers_used(item) and item.get_closest_marker(MARK) is None:
            item.add_marker(MARK)


def pytest_collection_finish(session: pytest.Session) -> None:
    session.stash[_SELECTED] = any(item.get_closest_marker(MARK) for item in session.items)


def _refuse_unless_selected(request: pytest.FixtureRequest, name: str) -> None:
    if request.session.stash.get(_SELECTED, True):
        return
    item = getattr(request, "_pyfuncitem", None)  # the test that asked (pytest keeps no public name for it)
    asker = item.nodeid if item is not None else "a test"
    pytest.fail(f"{asker} reaches the test bed's {name} in a run that selected no '{MARK}' test: mark it "
                f"(pytest.mark.{MARK}, or pytest.param(..., marks=pytest.mark.{MARK})); no server was started",
                pytrace=False)


@pytest.fixture(scope="session")
def es_node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EsNode]:
    _refuse_unless_selected(request, "es_node")
    yield from session_node(tmp_path_factory)


@pytest.fixture(scope="session")
def samba_corp(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    _refuse_unless_selected(request, "samba_corp")
    yield from session_dc(CORP)


@pytest.fixture(scope="session")
def samba_fabrikam(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    _refuse_unless_selected(request, "samba_fabrikam")
    yield from session_dc(FABRIKAM)
