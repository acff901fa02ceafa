"""The session's real Samba AD domain controllers: the ``samba_corp`` and ``samba_fabrikam`` fixtures of
tests/support/servers.py run ``session_dc(CORP)`` and ``session_dc(FABRIKAM)`` (the one registration).

- ``samba_corp``: forest ``corp.example.com`` (NetBIOS CORP) on 127.0.0.1, seeded with
  ``tests/testbed/fixtures/corp.ldif`` and the sample's ``corp.example.com.ldif`` (``seed.py``).
- ``samba_fabrikam``: a second forest ``fabrikam.example.com`` (FABRIKAM) on 127.0.0.2, seeded with
  ``tests/testbed/fixtures/fabrikam.ldif`` and the sample's ``fabrikam.example.com.ldif``.

State directory: ``GROUPID_TESTBED_DIR`` or ``<repo>/.testbed``. A DC that already runs there (for
example started with ``python tests/testbed/samba_dc.py start ...``) is used as it is and left
running; otherwise the fixture starts it from a fresh copy of the cached template and stops it at
the end of the session. If the DC cannot start, the fixture fails with the reason (never skips).

Each yields the dict of :func:`tests.testbed.samba_dc.start` (LDAP_URL, LDAP_STARTTLS_URL,
LDAP_BIND_DN, LDAP_PASSWORD_FILE, LDAP_CA_FILE, LDAP_BASE_DN, ...); :func:`admin_password` reads the
password file into a ``SecretStr``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from pydantic import SecretStr

from . import samba_dc
from .seed import seed_ldif

REPO_DIR = Path(__file__).resolve().parents[2]
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"

CORP = {"domain": "corp.example.com", "address": "127.0.0.1"}
FABRIKAM = {"domain": "fabrikam.example.com", "address": "127.0.0.2"}


def state_dir_path() -> Path:
    return Path(os.environ.get("GROUPID_TESTBED_DIR") or REPO_DIR / ".testbed").resolve()


def admin_password(env: dict[str, str]) -> SecretStr:
    return SecretStr(Path(env["LDAP_PASSWORD_FILE"]).read_text().strip())


def session_dc(spec: Mapping[str, object]) -> Iterator[dict[str, str]]:
    """The DC of ``spec`` for the session, stopped at its end when it was started here."""
    state_dir = state_dir_path()
    domain = str(spec["domain"])
    failure: str | None = None
    env: dict[str, str] = {}
    already_up = False
    try:
        already_up = samba_dc.status(state_dir, domain) is not None
        env = samba_dc.start(state_dir, domain, str(spec["address"]), seed_ldif(state_dir, domain))
    except Exception as exc:  # any failure to bring the DC up fails the tests that need it
        failure = f"{type(exc).__name__}: {exc}"
    if failure is not None:
        pytest.fail(f"the Samba DC for {domain} could not start: {failure}", pytrace=False)
    try:
        yield env
    finally:
        if not already_up:
            samba_dc.stop(state_dir, domain)
