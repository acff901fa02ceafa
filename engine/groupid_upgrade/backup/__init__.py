"""Backup sets of a GroupID 9/10 installation: create, verify, restore (rules R17, R18, R19).

``create.py`` writes a set, ``verify.py`` proves it, ``restore.py`` puts parts back; ``manifest.py``
is the set's format (docs/formats.md, "Backup sets"); ``methods.py`` the protocol methods.
"""
