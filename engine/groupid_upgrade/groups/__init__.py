"""Upgrade-Group (R13): select groups in the directory, convert their 9/10 definitions to 11, write
them to the target, the group index and the groups themselves (``group.upgrade`` and the Groups
module of ``upgrade.run``)."""
