"""The protocol methods ``backup.create``, ``backup.verify`` and ``backup.restore`` (and the
functions the CLI's ``backup``, ``verify`` and ``restore`` commands call)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from ..api import MethodSpec
from ..model.base import Result
from ..reporting import Reporter
from ..settings_params import SettingsParams, load_settings
from .create import create_backup
from .restore import RestoreReport, restore_set
from .verify import VerifyReport, verify_set


class BackupParams(SettingsParams):
    destination: Path = Field(description="A new or empty folder for the set (with zip: the set is <folder>.zip).")
    include: list[str] | None = Field(None, description="Parts to back up (default: every part that exists): "
                                      "Database, Elasticsearch, GroupAttributes, SelfServicePortals, "
                                      "PasswordCenterPortals, SynchronizeJobs, Reports, ReplicationAttributes, "
                                      "PasswordExceptionLists.")
    zip: bool = Field(False, description="Pack the finished set into one .zip file.")
    elasticsearch_stopped: bool = Field(False, description="Copy the Elasticsearch data folder instead of taking "
                                        "a snapshot; only while no node answers.")
    sql_server_backup_file: str | None = Field(None, description="SQL Server source: the backup file's path on the "
                                               "SQL Server's own disk.")
    what_if: bool = Field(False, description="Show what would be backed up; write nothing.")


class BackupResult(Result):
    """The manifest of the set written, and where the set is."""

    path: str
    manifest: dict[str, Any]


def backup_handler(params: BackupParams, reporter: Reporter) -> BackupResult:
    answers = load_settings(params, reporter)
    manifest, where = create_backup(answers, params.destination, reporter, include=params.include, zip_it=params.zip,
                                    elasticsearch_stopped=params.elasticsearch_stopped,
                                    sql_server_backup_file=params.sql_server_backup_file, what_if=params.what_if)
    return BackupResult(path=str(where), manifest=manifest.wire())


class VerifyParams(SettingsParams):
    path: Path = Field(description="The backup set: its folder or .zip.")


def verify_handler(params: VerifyParams, reporter: Reporter) -> VerifyReport:
    answers = load_settings(params, reporter) if params.answer_file is not None or params.settings else None
    return verify_set(params.path, answers, reporter)


class RestoreParams(SettingsParams):
    path: Path = Field(description="The backup set: its folder or .zip.")
    include: list[str] = Field(description="The parts to restore (or All).")
    to: Path | None = Field(None, description="Restore the file parts under this folder instead of the source "
                            "locations.")
    force: bool = Field(False, description="Overwrite destinations that differ from the set and are newer (R18).")
    what_if: bool = Field(False, description="Show what would be restored; write nothing.")
    containers: list[str] | None = Field(None, description="Restore group attributes only of groups under these "
                                         "containers (distinguished names).")


def restore_handler(params: RestoreParams, reporter: Reporter) -> RestoreReport:
    answers = load_settings(params, reporter)
    return restore_set(params.path, answers, reporter, include=params.include, to=params.to, force=params.force,
                       what_if=params.what_if, containers=params.containers)


BACKUP_METHOD = MethodSpec(
    name="backup.create", params=BackupParams, result=BackupResult, handler=backup_handler,
    summary="Write one verifiable backup set (database, Elasticsearch snapshot, group attributes LDIF, folders).",
    supports_what_if=True,
)
VERIFY_METHOD = MethodSpec(
    name="backup.verify", params=VerifyParams, result=VerifyReport, handler=verify_handler,
    summary="Check a backup set: every file present and intact, no extra file, every part readable.",
)
RESTORE_METHOD = MethodSpec(
    name="backup.restore", params=RestoreParams, result=RestoreReport, handler=restore_handler,
    summary="Restore chosen parts of a verified backup set to the source locations or under a folder.",
    supports_what_if=True,
)
