"""Writing the GroupID 11 target: its database, ledger, secrets and folders.

Every unit of work is one transaction holding its rows and its ledger row (R15): a unit is either
done and recorded, or absent. Files are copied before the transaction (to a temporary name, then
renamed), so a crash between the two leaves a copy that the resumed run simply writes again.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any

from ..crypto import SecretBox, new_salt
from ..errors import EngineError
from ..model.settings import TargetSettings
from ..safety.paths import WriteGuard
from ..safety.resources import note_database, resource_error
from ..source.installation import open_database
from ..source.layout import InstallationLayout
from ..storage.sql import (
    SQLITE_ONLY,
    Database,
    create_table,
    database_locked,
    statement,
    table_ref,
    transaction,
    upsert,
)
from . import schema as t
from .ledger import Ledger

SETTING_SCHEMA_VERSION = "SchemaVersion"
SETTING_SALT = "PassphraseSalt"
SETTING_CHECK = "PassphraseCheck"


def target_layout(settings: TargetSettings) -> InstallationLayout:
    program_files = settings.program_files or Path(str(getattr(settings.database, "path", "."))).parent
    program_data = settings.program_data or program_files
    return InstallationLayout(Path(program_files), Path(program_data))


def log_path_of(settings: TargetSettings, layout: InstallationLayout) -> Path:
    folder = Path(settings.log_folder) if settings.log_folder is not None else layout.program_data / "Upgrade Tool"
    from ..run_log import RUN_LOG_NAME

    return folder / RUN_LOG_NAME


def write_paths(settings: TargetSettings) -> list[tuple[Path | None, str, bool]]:
    """Every place the target writes, for the write guard: (path, what, is a file)."""
    layout = target_layout(settings)
    paths: list[tuple[Path | None, str, bool]] = []
    if settings.database.kind == "sqlite":
        db = Path(settings.database.path)
        paths += [(db, "target database (target.database.path)", True)]
        paths += [(Path(f"{db}{suffix}"), "target database's side file", True) for suffix in ("-wal", "-shm")]
    paths += [(layout.program_files, "target folder (target.programFiles)", False),
              (layout.program_data, "target folder (target.programData)", False),
              (settings.log_folder, "target log folder (target.logFolder)", False),
              (log_path_of(settings, layout), "target log file", True)]
    return paths


class TargetInstallation:
    """The 11 target: open (creating its schema on first use), with its passphrase verified."""

    def __init__(self, settings: TargetSettings, *, read_only: bool = False, guard: WriteGuard | None = None,
                 create_schema: bool = True) -> None:
        """``create_schema=False``: opened for writing, but the missing tables are created only by
        ``ensure_schema()``, so a caller can read first (a prerequisite) and refuse before anything is written."""
        self.settings = settings
        self.read_only = read_only
        self.db: Database | None = None  # None: a what-if of a target that does not exist yet
        self.layout = target_layout(settings)
        self.ledger = Ledger(None)
        if guard is not None:  # before anything is opened: what-if refuses what the run would refuse
            guard.check_all(write_paths(settings))
        if settings.database.kind == "sqlite":
            path = Path(settings.database.path)
            if read_only and not path.exists():
                return
            if not read_only:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise EngineError("TargetWriteFailed", f"The target folder {path.parent} cannot be created "
                                      f"({exc.strerror}).", target=str(path.parent),
                                      recommended_action="Check the target database path and its permissions.") from None
        opened = open_database(settings.database, read_only=read_only, role="target", create=not read_only)
        note_database(opened.display_name)
        self.db = opened
        self.ledger = Ledger(opened, on_error=self._write_error)
        if not read_only and create_schema:
            self._ensure_schema()

    def ensure_schema(self) -> None:
        """Create the tables a target opened with ``create_schema=False`` lacks (none: nothing is written)."""
        if not self.read_only and self.db is not None:
            self._ensure_schema()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()

    # --- schema and passphrase -----------------------------------------------------------------
    def _ensure_schema(self) -> None:
        db = self.db
        assert db is not None
        if db.dialect == "sqlite":  # one read of the catalogue, not one per table (every request does this)
            present = {row[0] for row in db.execute(SQLITE_ONLY["list_tables"])}
            missing = [table for table in t.TABLES if table_ref(table.name, "sqlite") not in present]
        else:
            missing = [table for table in t.TABLES if not db.has_table(table.name)]
        if not missing:
            return
        try:
            with transaction(db) as cur:
                for table in missing:
                    cur.execute(create_table(table.name, table.columns, (table.key,), db.dialect))
                upsert(cur, t.UPG_SETTING, {"Name": SETTING_SCHEMA_VERSION, "Value": t.TARGET_SCHEMA_VERSION}, db.dialect)
        except Exception as exc:
            raise self._write_error(exc) from None

    def _write_error(self, exc: Exception) -> EngineError:
        text = str(exc)
        assert self.db is not None
        if isinstance(exc, EngineError):
            return exc
        named = resource_error(exc, path=self.db.display_name, error_id="TargetWriteFailed")
        if named is not None:  # disk full, read-only, permission denied: named, with what to do
            return named
        if "locked" in text.lower() or "busy" in text.lower():
            return database_locked(self.db)
        return EngineError("TargetWriteFailed", f"Writing the {self.db.display_name} failed ({type(exc).__name__}: "
                           f"{text[:200]}).", target=self.db.display_name,
                           recommended_action="Check the disk and permissions, then run again to resume.")

    def settings_value(self, name: str) -> str | None:
        if self.db is None or not self.db.has_table(t.UPG_SETTING.name):
            return None
        return self.db.scalar(statement("select_where_key", self.db.dialect, table=t.UPG_SETTING.name,
                                        columns=("Value",), key="Name"), (name,))

    def secret_box(self) -> SecretBox:
        """The target's SecretBox; the first run sets the salt and check, later runs verify (R19)."""
        if self.settings.passphrase is None:
            raise EngineError("PassphraseMissing", "The target passphrase is needed to encrypt the secrets written "
                              "to the target and was not given.", target="target.passphrase",
                              recommended_action="Put target.passphrase in the answer file or its secrets file.")
        passphrase = self.settings.passphrase.get_secret_value()
        salt = self.settings_value(SETTING_SALT)
        check = self.settings_value(SETTING_CHECK)
        if salt and check:
            box = SecretBox(passphrase, salt, owner="target")
            box.verify(check)
            return box
        if self.read_only:
            return SecretBox(passphrase, new_salt(), owner="target")
        box = SecretBox(passphrase, new_salt(), owner="target")
        assert self.db is not None
        with transaction(self.db) as cur:
            upsert(cur, t.UPG_SETTING, {"Name": SETTING_SALT, "Value": box.salt}, self.db.dialect)
            upsert(cur, t.UPG_SETTING, {"Name": SETTING_CHECK, "Value": box.check_value()}, self.db.dialect)
        return box

    # --- files ---------------------------------------------------------------------------------
    def log_path(self) -> Path:
        return log_path_of(self.settings, self.layout)


def copy_file(source: Path, destination: Path) -> None:
    """Copy with timestamps, through a temporary name in the destination folder, then rename."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temp = destination.with_name(f".{destination.name}.partial")
    shutil.copy2(source, temp)
    os.replace(temp, destination)


def copy_folder(source: Path, destination: Path) -> None:
    """Copy a folder whole: into a temporary sibling, then swap it in."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temp = destination.with_name(f".{destination.name}.partial")
    if temp.exists():
        shutil.rmtree(temp)
    shutil.copytree(source, temp, symlinks=True)
    if destination.exists():
        shutil.rmtree(destination)
    os.replace(temp, destination)


def encrypt_optional(box: SecretBox, value: str | None) -> str | None:
    return None if value is None else box.encrypt(value)


def pfx_columns(box: SecretBox, creds: Any, thumbprint: str | None) -> dict[str, Any]:
    """The columns holding a client secret + PFX + password, all encrypted (R19)."""
    if creds is None:
        return {}
    from ..safety.reading import PFX_BYTES, read_limited

    pfx = read_limited(Path(creds.pfx_file), what="PFX file", limit=PFX_BYTES, error_id="PfxUnreadable")
    return {
        "ClientSecret": box.encrypt(creds.client_secret.get_secret_value()),
        "CertificatePfx": box.encrypt(base64.b64encode(pfx).decode("ascii")),
        "CertificatePassword": box.encrypt(creds.pfx_password.get_secret_value()),
        "CertificateThumbprint": thumbprint,
        "ApplicationId": creds.application_id,
    }


def as_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
