"""The GroupID 11 target as this product writes it (docs/formats.md, "The 11 target").

Identity-store centred: every upgraded object names its identity store. ``Upg.*`` tables are the
upgrade's own bookkeeping: the ledger (R15), runs, and the passphrase check of the target.
"""

from __future__ import annotations

from ..storage.sql import Table

TARGET_SCHEMA_VERSION = "1"

UPG_SETTING = Table("Upg.Setting", "Name", (("Name", "key", False), ("Value", "text", True)))
LEDGER = Table(
    "Upg.Ledger",
    "UnitKey",
    (
        ("UnitKey", "key", False),  # Module/kind:id, e.g. Synchronize/job:6f1c...
        ("Module", "text", False),
        ("Name", "text", False),
        ("RunId", "text", False),
        ("CompletedOn", "datetime", False),
    ),
)
RUN = Table(
    "Upg.Run",
    "RunId",
    (
        ("RunId", "key", False),
        ("StartedOn", "datetime", False),
        ("FinishedOn", "datetime", True),
        ("Modules", "text", False),
        ("Status", "text", True),
    ),
)
# A run that stopped before its end: how, and who stopped it (groupid-upgrade status shows it). A table of its
# own, not columns of Upg.Run, so a target written by an earlier engine gets it without a migration.
RUN_STOP = Table(
    "Upg.RunStop",
    "RunId",
    (
        ("RunId", "key", False),
        ("StoppedOn", "datetime", False),
        ("Status", "text", False),  # Cancelled, Interrupted or Failed
        ("StoppedBy", "text", True),
        ("ErrorId", "text", True),
    ),
)

IDENTITY_STORE = Table(
    "Gid.IdentityStore",
    "IdentityStoreId",
    (
        ("IdentityStoreId", "int", False),
        ("Name", "text", False),
        ("StoreType", "text", False),
        ("DomainName", "text", False),
        ("ForestDomains", "text", True),  # stores created per forest: every domain they serve
        ("IsEnabled", "bool", False),
        ("Origin", "text", False),  # Upgraded | CreatedForForest | CreatedForDomain | CreatedForReports
        ("SourceIdentityStoreId", "int", True),
        ("ConnectionString", "text", True),
        ("ServiceAccount", "text", True),
        ("ServiceAccountPassword", "text", True),  # enc:v1 with the target passphrase (R19)
        ("ApplicationId", "text", True),
        ("ClientSecret", "text", True),
        ("CertificateThumbprint", "text", True),
        ("CertificatePfx", "text", True),  # the PFX file's bytes, encrypted
        ("CertificatePassword", "text", True),
        ("Cloud", "text", True),
        ("PrimaryDomainName", "text", True),
    ),
)
MESSAGING_PROVIDER = Table(
    "Gid.MessagingProvider",
    "MessagingProviderId",
    (
        ("MessagingProviderId", "int", False),
        ("IdentityStoreId", "int", False),
        ("ProviderType", "text", False),
        ("Domain", "text", True),
        ("UserName", "text", True),
        ("Password", "text", True),
        ("ApplicationId", "text", True),
        ("ClientSecret", "text", True),
        ("CertificateThumbprint", "text", True),
        ("CertificatePfx", "text", True),
        ("CertificatePassword", "text", True),
        ("Cloud", "text", True),
    ),
)
SETTING = Table("Gid.Setting", "Name", (("Name", "key", False), ("Value", "text", True)))
WORKFLOW_APPROVER = Table(
    "Gid.WorkflowApprover",
    "WorkflowApproverId",
    (
        ("WorkflowApproverId", "int", False),
        ("IdentityStoreId", "int", False),
        ("WorkflowName", "text", False),
        ("ApproverKind", "text", False),  # Fixed (11 has no variable approvers)
        ("Approver", "text", False),
        ("SourceApprover", "text", False),
    ),
)
DATA_SOURCE = Table(
    "Gid.DataSource",
    "DataSourceId",
    (
        ("DataSourceId", "key", False),
        ("Name", "text", False),
        ("ProviderType", "text", False),
        ("ConnectionString", "text", False),  # a Password in it is encrypted (enc:v1)
    ),
)
SYNC_JOB = Table(
    "Gid.SyncJob",
    "JobId",
    (
        ("JobId", "key", False),
        ("IdentityStoreId", "int", True),
        ("CollectionId", "key", True),
        ("Name", "text", False),
        ("Kind", "text", False),  # Job | JobTemplate
        ("IsEnabled", "bool", False),
        ("SourceJson", "text", False),
        ("DestinationJson", "text", False),
        ("MessagingJson", "text", True),
        ("Script", "text", True),
        ("SourceFile", "text", False),
    ),
)
JOB_COLLECTION = Table(
    "Gid.JobCollection",
    "CollectionId",
    (
        ("CollectionId", "key", False),
        ("IdentityStoreId", "int", True),
        ("Name", "text", False),
        ("Kind", "text", False),  # Collection | CollectionTemplate
        ("SourceFile", "text", False),
    ),
)
SCHEDULE = Table(
    "Gid.Schedule",
    "ScheduleId",
    (
        ("ScheduleId", "key", False),  # the source id, or Entitlement:<name>:<store> for created ones
        ("SourceScheduleId", "int", True),
        ("IdentityStoreId", "int", True),
        ("Name", "text", False),
        ("JobType", "text", False),
        ("TriggerType", "text", True),
        ("TriggerData", "text", True),
        ("IsEnabled", "bool", False),
    ),
)
SCHEDULE_TARGET = Table(
    "Gid.ScheduleTarget",
    "ScheduleTargetId",
    (
        ("ScheduleTargetId", "key", False),
        ("ScheduleId", "key", False),
        ("TargetKind", "text", False),
        ("TargetId", "key", False),
    ),
)
REPORT_BINDING = Table(
    "Gid.ReportBinding",
    "ReportId",
    (
        ("ReportId", "int", False),
        ("IdentityStoreId", "int", False),
        ("Name", "text", False),
        ("Category", "text", False),
        ("FileName", "text", False),  # under <target programData>\Reports\<store id>\
        ("GeneratedOn", "datetime", False),
    ),
)

HISTORY = Table(
    "Gid.History",
    "HistoryId",
    (
        ("HistoryId", "int", False),  # the source row's HistoryId: one target row per source row (R14)
        ("IdentityStoreId", "int", False),
        ("HistoryType", "text", False),  # ObjectHistory | ConfigurationHistory | AdminCenterHistory | ...
        ("Action", "text", False),  # the 11 action name (docs/formats.md, History in 11)
        ("ObjectGuid", "key", True),
        ("ObjectDn", "text", True),
        ("ActorDn", "text", True),
        ("ChangesJson", "text", True),  # [{"old": ..., "new": ...}]
        ("Description", "text", True),
        ("OccurredOnUtc", "datetime", False),
        ("SourceOffset", "text", False),  # the offset the source recorded, e.g. -05:00
        ("SourceCategory", "text", False),
        ("SourceAction", "text", False),
    ),
)
SEARCH_OUTBOX = Table(
    "Upg.SearchOutbox",
    "DocId",
    (
        ("DocId", "key", False),  # the document's _id: deterministic, so a resend never duplicates
        # the store, not the index name: the index prefix is the one of the run that sends it
        ("IdentityStoreId", "int", False),
        ("Document", "text", False),  # JSON
    ),
)

GROUP = Table(
    "Gid.Group",
    "ObjectGuid",
    (
        ("ObjectGuid", "key", False),  # the group's objectGUID in the directory (Upgrade-Group, R13)
        ("IdentityStoreId", "int", False),
        ("DistinguishedName", "text", False),
        ("Name", "text", False),
        ("SamAccountName", "text", True),
        ("GroupType", "int", False),  # 1..6, the vendor's GroupType numbers
        ("ParentObjectGuid", "key", True),  # Dynasty middle/leaf: the parent's objectGUID
        ("DefinitionJson", "text", False),  # the IMSG* pseudo-attributes (docs/formats.md, Groups in 11)
        ("SourceVersion", "text", True),  # the GroupID version that wrote the 9/10 definition
        ("UpgradedOn", "datetime", False),
    ),
)

TABLES: tuple[Table, ...] = (
    UPG_SETTING, LEDGER, RUN, RUN_STOP, IDENTITY_STORE, MESSAGING_PROVIDER, SETTING, WORKFLOW_APPROVER, DATA_SOURCE,
    SYNC_JOB, JOB_COLLECTION, SCHEDULE, SCHEDULE_TARGET, REPORT_BINDING, HISTORY, SEARCH_OUTBOX,
    GROUP,
)
