"""What every test of tests/ shares, whatever file it is in (one registration each):

- tests/support/servers.py: the test bed's servers (``es_node``, ``samba_corp``, ``samba_fabrikam``)
  and the ``testbed`` mark every test using them gets;
- tests/support/ordering.py: the test order (the test-bed harness first; ``GROUPID_TEST_ORDER=reverse``
  or ``shuffle[:SEED]`` shows that no test needs another to run before it).
"""

from __future__ import annotations

import signal

import pytest

pytest_plugins = ["support.servers", "support.ordering"]


def pytest_configure(config: pytest.Config) -> None:
    # A shell starts a background job with SIGINT ignored, and children inherit that: the engines these
    # tests start could then not be interrupted, and the Ctrl+C tests would fail for how pytest was
    # started, not for what they test. A handler (unlike "ignored") is reset to the default in a child.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
