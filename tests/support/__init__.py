"""What the suites share, one module each (import as ``from support import leaks``; tests/ is on the path):

- ``leaks``: the R19 leak checker (every form of a secret, in texts, files, containers and processes);
- ``trees``: the snapshot of a folder that proves it was not written (R4), and what copies share;
- ``servers``: the test bed's servers as one fixture each, and the ``testbed`` mark (a pytest plugin);
- ``ordering``: the order tests run in, and ``GROUPID_TEST_ORDER`` to shake it (a pytest plugin);
- ``installations``, ``engine_runs``, ``rules_model``: generated GroupID 9/10 installations
  (docs/generated-installations.md).
"""
