"""The answer file: everything about an installation, and every answer to a wizard question.

Documented field by field in docs/answer-file.md. Paths are relative to the answer file's folder.
Secrets are ``SecretStr``: they print as ``**********`` and are written nowhere in clear.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, PrivateAttr, SecretStr, Tag, field_validator

from .base import WireModel

MODULES = ("Configuration", "Synchronize", "Schedules", "Reports", "History", "Groups")
SOURCE_VERSIONS = ("9.0", "10.0")
TARGET_VERSIONS = ("11.0", "11.1")


class Credential(WireModel):
    user_name: str
    password: SecretStr | None = None  # None for a gMSA (name ending in $)


class SqliteDatabase(WireModel):
    kind: Literal["sqlite"] = "sqlite"
    path: Path
    # sqlite3 is the embedded default; odbc goes through pyodbc and the SQLite3 ODBC driver, the
    # same code path as SQL Server.
    via: Literal["sqlite3", "odbc"] = "sqlite3"


class SqlServerDatabase(WireModel):
    kind: Literal["sqlserver"]
    server: str
    port: int | None = Field(None, ge=1, le=65535)
    database: str
    driver: str = "ODBC Driver 18 for SQL Server"
    authentication: Literal["sql", "windows"] = "sql"
    user_name: str | None = None
    password: SecretStr | None = None
    encrypt: bool = True
    trust_server_certificate: bool = False


def _database_kind(value: Any) -> Any:
    """The ``kind`` tag, its key matched case-insensitively like every other name (``KIND``)."""
    if isinstance(value, dict):
        return next((v for k, v in value.items() if isinstance(k, str) and k.lower() == "kind"), None)
    return getattr(value, "kind", None)


DatabaseSettings = Annotated[
    Annotated[SqliteDatabase, Tag("sqlite")] | Annotated[SqlServerDatabase, Tag("sqlserver")],
    Discriminator(_database_kind),
]


class ElasticsearchSettings(WireModel):
    url: str
    user_name: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
    index_prefix: str = "groupid11"
    # Backups (R17): the fs snapshot repository, its location as the node sees it (in the node's
    # path.repo), and the same folder as this machine sees it, when it can (a share, a local disk).
    snapshot_repository: str = "groupid-backup"
    snapshot_location: str | None = None
    snapshot_local_path: Path | None = None
    # How long to keep trying when the node does not answer or answers 429 (docs/answer-file.md):
    # each failed bulk round waits initialBackoffSeconds * 2**n (at most 60 s), maxRetries times.
    max_retries: int = Field(5, ge=0, le=20)
    initial_backoff_seconds: float = Field(1.0, gt=0, le=60)


class SourceSettings(WireModel):
    version: str
    database: DatabaseSettings
    program_files: Path | None = None
    program_data: Path | None = None
    passphrase: SecretStr | None = None
    # The GroupID 10 Elasticsearch (its replica of the directory), for backups (R17).
    elasticsearch: ElasticsearchSettings | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value


class TargetSettings(WireModel):
    version: str = "11.1"
    database: DatabaseSettings
    elasticsearch: ElasticsearchSettings | None = None
    program_files: Path | None = None
    program_data: Path | None = None
    passphrase: SecretStr | None = None
    log_folder: Path | None = None
    # History rows per target transaction and per bulk round (docs/formats.md, "History in 11").
    history_batch_size: int = Field(5_000, ge=100, le=50_000)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value


class DirectorySettings(WireModel):
    url: str  # ldaps://host:636 or ldap://host:389 with startTls
    start_tls: bool = False
    ca_file: Path | None = None
    credential: Credential | None = None
    # Verification is on unless switched off here explicitly; the engine warns on every run then.
    verify_certificate: bool = True


class PfxCredentials(WireModel):
    """Client secret + PFX certificate + its password (R5, R6, R7)."""

    client_secret: SecretStr
    pfx_file: Path
    pfx_password: SecretStr
    application_id: str | None = None
    tenant: str | None = None
    # For validateOnline: the authority (default https://login.microsoftonline.com; sovereign clouds
    # and test endpoints differ) and a CA file to verify it with, when not the system's.
    authority: str | None = None
    authority_ca_file: Path | None = None


class NewStoreAnswer(WireModel):
    """An identity store to create (R10 reports store when none exists)."""

    type: Literal["ActiveDirectory"] = "ActiveDirectory"
    domain: str
    name: str | None = None
    service_account: Credential


AnswerValue = int | str | Credential | PfxCredentials | NewStoreAnswer | dict[str, Any]


class AnswerFile(WireModel):
    format_version: Literal[1] = 1
    source: SourceSettings
    target: TargetSettings
    modules: list[str] = Field(default_factory=lambda: ["Everything"])
    answers: dict[str, Any] = Field(default_factory=dict)
    directories: dict[str, DirectorySettings] = Field(default_factory=dict)
    secrets_file: Path | None = None
    validate_online: bool = False
    # The files this answer file was read from (the answer file, its secrets file), as (path, what):
    # no write of the command may replace them (safety/paths.py).
    _inputs: list[tuple[Path, str]] = PrivateAttr(default_factory=list)

    def input_files(self) -> list[tuple[Path, str]]:
        return list(self._inputs)

    @field_validator("answers")
    @classmethod
    def _hide_secrets(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Answers are free-form until the planner reads them; their secrets are SecretStr from the
        start so that no repr, dump or log of the settings shows them (R19)."""
        return _secrets_hidden(value)

    @field_validator("directories")
    @classmethod
    def _lower_domains(cls, value: dict[str, DirectorySettings]) -> dict[str, DirectorySettings]:
        return {k.strip().rstrip(".").lower(): v for k, v in value.items()}


SECRET_NAMES = frozenset({"passphrase", "password", "clientsecret", "pfxpassword"})


def _secrets_hidden(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: SecretStr(v) if isinstance(k, str) and k.lower() in SECRET_NAMES and isinstance(v, str)
                else _secrets_hidden(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_secrets_hidden(v) for v in value]
    return value
