"""The GroupID 9/10 database as this product reads it: tables, columns, and their meaning.

The vendor's schema is not public (docs/formats.md, "The source database"); this is the documented
model the engine reads, built from every public name (``Svc.IdentityStore``, ChangeTrackerActions).
An adapter for the real schema replaces this module and ``source/database.py``, nothing else.
"""

from __future__ import annotations

from ..storage.sql import Table

SCHEMA_VERSION = {"9.0": 9, "10.0": 10}


SETTING = Table("Svc.Setting", "Name", (("Name", "key", False), ("Value", "text", True)))

IDENTITY_STORE = Table(
    "Svc.IdentityStore",
    "IdentityStoreId",
    (
        ("IdentityStoreId", "int", False),
        ("Name", "text", False),
        ("StoreType", "text", False),  # ActiveDirectory | MicrosoftAzure | GenericLdap | GoogleWorkspace
        ("DomainName", "text", False),
        ("IsEnabled", "bool", False),
        ("ConnectionString", "text", True),
        ("ServiceAccount", "text", True),
        ("ServiceAccountPassword", "text", True),  # enc:v1:... (docs/formats.md, Secrets)
        ("ApplicationId", "text", True),
        ("Cloud", "text", True),
        ("PrimaryDomainName", "text", True),
        ("CreatedOn", "datetime", False),
    ),
)

MESSAGING_PROVIDER = Table(
    "Svc.MessagingProvider",
    "MessagingProviderId",
    (
        ("MessagingProviderId", "int", False),
        ("IdentityStoreId", "int", False),
        ("ProviderType", "text", False),  # Exchange2013|Exchange2016|Exchange2019|Office365|GoogleWorkspace|Other
        ("Domain", "text", True),
        ("UserName", "text", True),
        ("Password", "text", True),
        ("ApplicationId", "text", True),
        ("Cloud", "text", True),
    ),
)

SCHEDULE = Table(
    "Svc.Schedule",
    "ScheduleId",
    (
        ("ScheduleId", "int", False),
        ("Name", "text", False),
        ("JobType", "text", False),  # Synchronize | SmartGroupUpdate | GroupLifeCycle | Reports | Insights | ...
        ("IdentityStoreId", "int", True),  # set for store-bound schedules; Synchronize ones are server-wide
        ("TriggerType", "text", False),  # Daily | Weekly | Interval | OnDemand
        ("TriggerData", "text", True),
        ("IsEnabled", "bool", False),
    ),
)

SCHEDULE_TARGET = Table(
    "Svc.ScheduleTarget",
    "ScheduleTargetId",
    (
        ("ScheduleTargetId", "int", False),
        ("ScheduleId", "int", False),
        ("TargetKind", "text", False),  # Job | JobCollection
        ("TargetId", "text", False),  # the Id of the job or collection in its .dtmconfig
    ),
)

REPORT = Table(
    "Svc.Report",
    "ReportId",
    (
        ("ReportId", "int", False),
        ("Name", "text", False),
        ("Category", "text", False),
        ("FileName", "text", False),  # relative to the Reports folder
        ("Domain", "text", False),  # the domain the server was joined to when it was generated
        ("GeneratedOn", "datetime", False),
    ),
)

MANAGED_GROUP = Table(
    "Svc.ManagedGroup",
    "ManagedGroupId",
    (
        ("ManagedGroupId", "int", False),
        ("IdentityStoreId", "int", False),
        ("ObjectGuid", "key", False),
        ("DistinguishedName", "text", False),
        ("Name", "text", False),
        ("GroupType", "int", False),  # 1..6 (docs/formats.md, Managed groups)
        ("ParentObjectGuid", "key", True),  # Dynasty parent
        ("DataSourceConnectionString", "text", True),
        ("ScriptText", "text", True),
    ),
)

WORKFLOW_APPROVER = Table(
    "Svc.WorkflowApprover",
    "WorkflowApproverId",
    (
        ("WorkflowApproverId", "int", False),
        ("IdentityStoreId", "int", False),
        ("WorkflowName", "text", False),
        ("ApproverKind", "text", False),  # Variable | Fixed
        ("Approver", "text", False),  # managedBy | additionalOwner | an objectGUID
    ),
)

HISTORY = Table(
    "Hist.History",
    "HistoryId",
    (
        ("HistoryId", "int", False),
        ("IdentityStoreId", "int", False),
        ("Category", "text", False),  # IdentityStore | AdminCenter | Helpdesk | Synchronize
        ("Action", "text", False),  # docs/formats.md, History actions
        ("ObjectGuid", "key", True),
        ("ObjectDn", "text", True),
        ("ActorDn", "text", True),
        ("OldValue", "text", True),
        ("NewValue", "text", True),
        ("Description", "text", True),
        ("OccurredOn", "datetime", False),
    ),
)

TABLES: tuple[Table, ...] = (
    SETTING,
    IDENTITY_STORE,
    MESSAGING_PROVIDER,
    SCHEDULE,
    SCHEDULE_TARGET,
    REPORT,
    MANAGED_GROUP,
    WORKFLOW_APPROVER,
    HISTORY,
)

# History actions of each category (ChangeTrackerActions of the vendor, as the engine names them).
HISTORY_ACTIONS: dict[str, tuple[str, ...]] = {
    "IdentityStore": (
        "OwnershipChange",
        "AdditionalOwnerChange",
        "ExpirationPolicyChange",
        "GroupExpire",
        "GroupRenew",
        "QueryChange",
        "ObjectCreated",
        "ObjectDeleted",
        "Workflow",
        "SecurityRole",
        "SecurityTypeChange",
        "IdentityStoreConfiguration",
    ),
    "AdminCenter": ("AdminCenterChange",),
    "Helpdesk": ("PasswordReset", "AccountUnlock"),
    "Synchronize": ("JobRun", "ObjectSynchronized"),
}

# Svc.Setting names the engine reads.
SETTING_PRODUCT_VERSION = "ProductVersion"
SETTING_SERVER_DOMAIN = "ServerDomain"
SETTING_PASSPHRASE_SALT = "PassphraseSalt"
SETTING_PASSPHRASE_CHECK = "PassphraseCheck"
SETTING_REPLICATION_LOG_LEVEL = "ReplicationServiceLogLevel"
SETTING_DATA_LOG_LEVEL = "DataServiceLogLevel"
