"""What a GroupID 9/10 installation holds, as the engine reads it (docs/formats.md)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum, IntEnum

from pydantic import Field, SecretStr

from .base import WireModel


class StoreType(str, Enum):
    ACTIVE_DIRECTORY = "ActiveDirectory"
    ENTRA_ID = "MicrosoftAzure"  # the vendor's label for Microsoft Entra ID stores
    GENERIC_LDAP = "GenericLdap"
    GOOGLE_WORKSPACE = "GoogleWorkspace"


class MessagingType(str, Enum):
    EXCHANGE_2013 = "Exchange2013"
    EXCHANGE_2016 = "Exchange2016"
    EXCHANGE_2019 = "Exchange2019"
    OFFICE_365 = "Office365"
    GOOGLE_WORKSPACE = "GoogleWorkspace"
    OTHER = "Other"
    NONE = "None"


class GroupType(IntEnum):
    """The vendor's GroupType numbers (Management Shell parameters page)."""

    NON_MANAGED = 1
    SMART_GROUP = 2
    PARENT_DYNASTY = 3
    MIDDLE_DYNASTY = 4
    LEAF_DYNASTY = 5
    PASSWORD_EXPIRY = 6


DIRECTORY_PROVIDERS = frozenset({"ActiveDirectory", "MicrosoftAzure", "GenericLdap", "GoogleWorkspace"})
# Every other provider is a data source (file or database); rule R11 calls them "file-based".
DATA_SOURCE_PROVIDERS = frozenset({"Text", "Excel", "Access", "Odbc", "SqlServer", "Oracle", "Scim"})


class MessagingProvider(WireModel):
    id: int
    store_id: int
    type: MessagingType
    domain: str | None = None
    user_name: str | None = None
    password: SecretStr | None = None
    application_id: str | None = None
    cloud: str | None = None


class IdentityStore(WireModel):
    id: int
    name: str
    type: StoreType
    domain: str
    enabled: bool
    connection_string: str | None = None
    service_account: str | None = None
    service_account_password: SecretStr | None = None
    application_id: str | None = None
    cloud: str | None = None
    primary_domain: str | None = None
    messaging: MessagingProvider | None = None

    @property
    def label(self) -> str:
        return f"identity store {self.name!r} (id {self.id})"


class Provider(WireModel):
    """A job's source or destination: a provider name and its connection string's parts."""

    provider: str
    connection: dict[str, str] = Field(default_factory=dict)

    @property
    def is_directory(self) -> bool:
        return self.provider in DIRECTORY_PROVIDERS

    @property
    def domain(self) -> str | None:
        return self.connection.get("Domain")


class JobMessaging(WireModel):
    provider: MessagingType
    domain: str | None = None


class SyncJob(WireModel):
    id: str
    name: str
    file: str  # path relative to the Synchronize Jobs folder
    kind: str = "job"  # job | jobTemplate (inside a collection: the collection's kind)
    enabled: bool = True
    source: Provider
    destination: Provider
    messaging: JobMessaging | None = None
    script: str | None = None
    collection_id: str | None = None

    @property
    def destination_domain(self) -> str | None:
        return normalize_domain(self.destination.domain) if self.destination.is_directory else None


class JobCollection(WireModel):
    id: str
    name: str
    file: str
    kind: str = "collection"  # collection | collectionTemplate
    jobs: list[SyncJob]


class Schedule(WireModel):
    id: int
    name: str
    job_type: str
    store_id: int | None = None
    trigger_type: str
    trigger_data: str | None = None
    enabled: bool = True
    job_ids: list[str] = Field(default_factory=list)
    collection_ids: list[str] = Field(default_factory=list)


class Report(WireModel):
    id: int
    name: str
    category: str
    file_name: str
    domain: str
    generated_on: datetime


class ManagedGroup(WireModel):
    id: int
    store_id: int
    object_guid: str
    distinguished_name: str
    name: str
    group_type: GroupType
    parent_object_guid: str | None = None
    data_source_connection_string: str | None = None
    script: str | None = None


class WorkflowApprover(WireModel):
    id: int
    store_id: int
    workflow_name: str
    approver_kind: str  # Variable | Fixed
    approver: str


class HistoryRecord(WireModel):
    id: int
    store_id: int
    category: str
    action: str
    object_guid: str | None = None
    object_dn: str | None = None
    actor_dn: str | None = None
    old_value: str | None = None
    new_value: str | None = None
    description: str | None = None
    occurred_on: datetime


def normalize_domain(domain: str | None) -> str | None:
    """DNS names compare case-insensitively with the trailing dot ignored (R8)."""
    if domain is None:
        return None
    cleaned = domain.strip().rstrip(".").lower()
    return cleaned or None


def parse_connection_string(text: str) -> dict[str, str]:
    """``Key=Value;Key2="a;b"`` into a dict (keys as written). Raises ValueError when malformed."""
    result: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " ;":
            i += 1
        if i >= n:
            break
        eq = text.find("=", i)
        if eq < 0:
            raise ValueError(f"expected Key=Value at character {i + 1}")
        key = text[i:eq].strip()
        if not key or any(c in key for c in ';"'):
            raise ValueError(f"invalid key at character {i + 1}")
        j = eq + 1
        if j < n and text[j] == '"':
            end = text.find('"', j + 1)
            if end < 0:
                raise ValueError(f"unterminated quoted value starting at character {j + 1}")
            value = text[j + 1:end]
            i = end + 1
        else:
            end = text.find(";", j)
            end = n if end < 0 else end
            value = text[j:end].strip()
            i = end
        result[key] = value
    return result
