"""Where a GroupID 9/10 installation keeps its files (docs/formats.md, "Folders").

Paths are relative to the two roots of an installation: ``programFiles`` (default
``<ProgramFiles>\\Imanami\\GroupID <v>``) and ``programData`` (default
``<ProgramData>\\Imanami\\GroupID <v>``). Backup, restore and the upgrade all ask this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

JOB_FOLDERS = {
    "Jobs": "job",
    "Group Jobs": "collection",
    "Job Templates": "jobTemplate",
    "Job Group Templates": "collectionTemplate",
}
DTMCONFIG_SUFFIX = ".dtmconfig"


def version_folder_name(version: str) -> str:
    """``GroupID 10.0`` for source 10 (the seeds also write ``GroupID 10``; both are looked for)."""
    return f"GroupID {version}"


def default_roots(version: str) -> tuple[PureWindowsPath, PureWindowsPath]:
    # Windows' own spelling; environment names are case-insensitive there.
    program_files = os.environ.get("ProgramFiles", r"C:\Program Files")  # noqa: SIM112
    program_data = os.environ.get("ProgramData", r"C:\ProgramData")  # noqa: SIM112
    name = version_folder_name(version)
    return (
        PureWindowsPath(program_files, "Imanami", name),
        PureWindowsPath(program_data, "Imanami", name),
    )


def default_folders(version: str) -> tuple[Path, Path]:
    """R1: the vendor's folders on this machine, from its ``ProgramFiles``/``ProgramData``
    (Windows sets both; elsewhere they are read the same way, defaulting to the Windows paths)."""
    program_files = os.environ.get("ProgramFiles")  # noqa: SIM112
    program_data = os.environ.get("ProgramData")  # noqa: SIM112
    windows_files, windows_data = default_roots(version)
    name = version_folder_name(version)
    return (Path(program_files, "Imanami", name) if program_files else Path(str(windows_files)),
            Path(program_data, "Imanami", name) if program_data else Path(str(windows_data)))


@dataclass(frozen=True)
class InstallationLayout:
    program_files: Path
    program_data: Path

    # --- program files ------------------------------------------------------------------------
    @property
    def self_service_portals(self) -> Path:
        return self.program_files / "SelfService" / "Inetpub"

    @property
    def password_center_portal(self) -> Path:
        return self.program_files / "PasswordCenter" / "Inetpub"

    @property
    def password_center_helpdesk(self) -> Path:
        return self.program_files / "PasswordCenter" / "Helpdesk" / "Inetpub"

    @property
    def replication_attributes(self) -> Path:
        return self.program_files / "Replication" / "IdentityStoresReplicationAttributes"

    @property
    def password_exception_lists(self) -> Path:
        return self.program_files / "GroupIDDataService" / "PasswordCenter" / "PasswordExceptionLists"

    # --- program data -------------------------------------------------------------------------
    @property
    def synchronize_jobs(self) -> Path:
        return self.program_data / "Synchronize" / "Jobs"

    @property
    def reports(self) -> Path:
        return self.program_data / "Reports"

    @property
    def elasticsearch_data(self) -> Path:
        return self.program_data / "Replication" / "data"

    def job_folder(self, folder: str) -> Path:
        return self.synchronize_jobs / folder

    @staticmethod
    def replication_attribute_file(domain: str, store_id: int) -> str:
        return f"{domain}_{store_id}.xml"

    @staticmethod
    def password_exception_folder(store_name: str, store_id: int) -> str:
        return f"{store_name}_{store_id}"
