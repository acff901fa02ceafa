"""A complete, deterministic sample GroupID 9.0/10.0 installation (docs/sample.md).

It holds every case rules R3 and R5..R11 need, the directory of its two forests as LDIF, PFX files,
and an answer file (plus a 0600 secrets file) that upgrades it into ``DIR/target``. History rows are
generated and written in batches, so memory does not grow with ``--history``.
Everything is a function of the seed, except key material and encryption nonces, which are random
by nature (a PFX and an encrypted secret differ between two runs; what they hold does not).
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypedDict

from ..crypto import SecretBox, new_salt
from ..errors import EngineError
from ..model.installation import GroupType
from ..reporting import Reporter
from ..source import schema
from ..source.dtmconfig import CollectionDocument, JobDocument, render_collection, render_job
from ..source.group_definition import GroupDefinition, encode
from ..source.layout import InstallationLayout, version_folder_name
from ..storage.sql import SQLITE_ONLY, create_index, create_table, insert, open_sqlite, transaction

CORP = "corp.example.com"
FABRIKAM = "fabrikam.example.com"
DIRECTORY_DOMAINS = (CORP, FABRIKAM)
HISTORY_BATCH = 10_000

# Store ids of the sample (docs/sample.md lists what each exercises).
STORE_FABRIKAM = 1
STORE_CONTOSO = 2
STORE_LEGACY = 3  # disabled (R3)
STORE_GOOGLE = 4  # not upgraded by the vendor (R12 warning)
STORE_BROKEN = 5  # --with-faults only: a broken connection string (R16)

AD_GLOBAL_SECURITY = -2147483646
AD_UNIVERSAL_DISTRIBUTION = 8

LdifEntry = tuple[str, list[tuple[str, Sequence[str | bytes]]]]  # dn, then (attribute, values) in order
# A row of the source's Hist.History, columns in the order of schema.HISTORY
HistoryRow = tuple[int, int, str, str, str, str, str, str | None, str | None, str, str]


class SampleGroup(TypedDict):
    """A group the sample puts in a directory; the database's managed groups point at them."""

    dn: str
    cn: str
    type: int
    guid: str
    parent_dn: str | None


@dataclass(frozen=True)
class SampleSpec:
    out: Path
    version: str = "10.0"
    seed: int = 1
    groups: int = 40  # groups per directory domain (at least the fixed set of every kind)
    history: int = 5_000
    with_faults: bool = False


def dn_of_domain(domain: str) -> str:
    return ",".join(f"DC={label}" for label in domain.split("."))


class _Secrets:
    """Every secret of the sample, generated from the seed so tests can find them by value."""

    def __init__(self, rng: random.Random) -> None:
        def make(tag: str) -> str:
            return f"{tag}-{rng.getrandbits(64):016x}!Aa1"

        self.source_passphrase = make("src-pass")
        self.target_passphrase = make("tgt-pass")
        self.fabrikam_service = make("svc-fabrikam")
        self.legacy_service = make("svc-legacy")
        self.google_service = make("svc-google")
        self.corp_service = make("svc-corp11")
        self.exchange = make("exch")
        self.job_passwords = {d: make("job-" + d.split(".")[0]) for d in (
            CORP, "child.corp.example.com", "sales.corp.example.com", FABRIKAM, "partner.example.net",
            "eu.northwind.example.org", "us.northwind.example.org", "legacy.example.net")}
        self.entra_client_secret = make("entra-secret")
        self.entra_pfx_password = make("entra-pfx")
        self.o365_client_secret = make("o365-secret")
        self.o365_pfx_password = make("o365-pfx")
        self.job_o365_client_secret = make("job-o365-secret")
        self.job_o365_pfx_password = make("job-o365-pfx")
        self.directory_admin = make("dir-admin")

    def all_values(self) -> list[str]:
        values = [v for k, v in vars(self).items() if isinstance(v, str)]
        return values + list(self.job_passwords.values())


class SampleGenerator:
    def __init__(self, spec: SampleSpec, reporter: Reporter | None = None) -> None:
        self.spec = spec
        self.reporter = reporter or Reporter()
        self.rng = random.Random(spec.seed)
        self.secrets = _Secrets(self.rng)
        self.version = spec.version
        self.job_ids: dict[str, str] = {}

    def guid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # --- entry point ---------------------------------------------------------------------------
    def generate(self) -> Path:
        out = self.spec.out
        if out.exists() and any(out.iterdir()):
            raise EngineError(
                "OutputPathInvalid",
                f"The folder {out} is not empty; the sample is written only into a new or empty folder.",
                target=str(out),
                recommended_action="Choose another --out folder or empty this one.",
            )
        # Build beside the destination, then rename: a failed or cancelled run leaves no half sample.
        work = out.parent / f".{out.name}.partial-{os.getpid()}"
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        try:
            self._generate_into(work)
            if out.exists():
                out.rmdir()
            work.rename(out)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return out

    def _generate_into(self, root: Path) -> None:
        name = version_folder_name(self.version)
        layout = InstallationLayout(
            root / "source" / "Program Files" / "Imanami" / name,
            root / "source" / "ProgramData" / "Imanami" / name,
        )
        self.layout = layout
        self.root = root
        steps = [
            ("Directory", self._write_directory),
            ("Certificates", self._write_certificates),
            ("Database", self._write_database),
            ("Synchronize jobs", self._write_jobs),
            ("Folders", self._write_folders),
            ("History", self._write_history),
            ("Answer file", self._write_answer_file),
        ]
        for i, (label, step) in enumerate(steps):
            self.reporter.check_cancelled("the sample generation")
            self.reporter.progress("sample", "Generating the sample installation", label, i, len(steps))
            step()
        self.reporter.progress("sample", "Generating the sample installation", "Done", len(steps), len(steps),
                               completed=True)

    # --- directory (LDIF per domain) -------------------------------------------------------------
    def _write_directory(self) -> None:
        folder = self.root / "directory"
        folder.mkdir()
        self.groups_by_domain: dict[str, list[SampleGroup]] = {}
        for domain in DIRECTORY_DOMAINS:
            entries, groups = self._directory_entries(domain)
            self.groups_by_domain[domain] = groups
            with (folder / f"{domain}.ldif").open("w", encoding="ascii", newline="\n") as fh:
                fh.write("version: 1\n")
                for dn, attrs in entries:
                    fh.write("\n" + _ldif_line("dn", dn.encode("utf-8")))
                    for attr, values in attrs:
                        for value in values:
                            fh.write(_ldif_line(attr, value if isinstance(value, bytes) else value.encode("utf-8")))

    def _directory_entries(self, domain: str) -> tuple[list[LdifEntry], list[SampleGroup]]:
        base = dn_of_domain(domain)
        rng = self.rng
        entries: list[LdifEntry] = []
        ou_groupid = f"OU=GroupID,{base}"
        ou_smart = f"OU=Smart Groups,{ou_groupid}"
        ou_dyn = f"OU=Dynasties,{ou_groupid}"
        ou_static = f"OU=Static Groups,{base}"
        ou_staff = f"OU=Staff,{base}"
        for dn in (ou_groupid, ou_smart, ou_dyn, ou_static, ou_staff):
            entries.append((dn, [("objectClass", ["top", "organizationalUnit"]), ("ou", [dn.split(",")[0][3:]])]))
        departments = ["Engineering", "Sales", "Finance", "Human Resources", "Support"]
        titles = ["Engineer", "Manager", "Analyst", "Specialist"]
        companies = ["Corp", "Fabrikam"] if domain == CORP else ["Fabrikam", "Tailspin"]
        users = []
        first = ["Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Alan", "Edsger",
                 "Zoë", "José", "Åsa", "Björn", "Chloé"]
        last = ["Lovelace", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen",
                "Turing", "Dijkstra", "Müller", "García", "Ørsted", "Nguyễn", "O'Brien"]
        for i in range(30):
            given, sn = first[i % len(first)], last[(i * 7) % len(last)]
            sam = f"u{i:03d}{domain.split('.')[0][:3]}"
            dn = f"CN={given} {sn} {i:03d},{ou_staff}"
            users.append(dn)
            entries.append((dn, [
                ("objectClass", ["top", "person", "organizationalPerson", "user"]),
                ("cn", [f"{given} {sn} {i:03d}"]), ("sAMAccountName", [sam]), ("givenName", [given]), ("sn", [sn]),
                ("displayName", [f"{given} {sn}"]), ("mail", [f"{sam}@{domain}"]),
                ("department", [departments[i % len(departments)]]), ("title", [titles[i % len(titles)]]),
                ("company", [companies[i % len(companies)]]),
            ]))
        groups: list[SampleGroup] = []
        prefix = "CORP" if domain == CORP else "FAB"
        stamp = "2024-05-01T02:00:00Z"

        def add_group(cn: str, ou: str, gtype: GroupType, defn: GroupDefinition | None, members: list[str],
                      ad_type: int = AD_GLOBAL_SECURITY) -> str:
            dn = f"CN={cn},{ou}"
            attrs: list[tuple[str, Sequence[str | bytes]]] = [
                ("objectClass", ["top", "group"]), ("cn", [cn]), ("sAMAccountName", [f"{prefix}-{cn}"[:64]]),
                ("groupType", [str(ad_type)]), ("description", [f"{gtype.name.replace('_', ' ').title()} {cn}"]),
                ("managedBy", [users[len(groups) % len(users)]]),
            ]
            if members:
                attrs.append(("member", members))
            if defn is not None:
                attrs.extend((name, values) for name, values in encode(defn).items())
            entries.append((dn, attrs))
            groups.append({"dn": dn, "cn": cn, "type": int(gtype), "guid": self.guid(),
                           "parent_dn": defn.parent_dn if defn else None})
            return dn

        # the fixed set: one of every kind, a Dynasty chain, nesting
        static_a = add_group("Static-Team-A", ou_static, GroupType.NON_MANAGED, None, users[:5])
        add_group("Static-Nested", ou_static, GroupType.NON_MANAGED, None, [static_a, users[5]],
                  AD_UNIVERSAL_DISTRIBUTION)
        for dept in departments[:3]:
            add_group(f"Smart-{dept.replace(' ', '')}", ou_smart, GroupType.SMART_GROUP,
                      GroupDefinition(GroupType.SMART_GROUP, ["user"], f'(department Contains "{dept}")', ou_staff,
                                      "Subtree", expiry_days=rng.choice([None, 90, 180]), last_update=stamp,
                                      version=self.version, additional_owners=[users[1]]),
                      [u for k, u in enumerate(users) if k % len(departments) == departments.index(dept)])
        add_group("Smart-OneLevel-Managers", ou_smart, GroupType.SMART_GROUP,
                  GroupDefinition(GroupType.SMART_GROUP, ["user", "contact"], '(title Equals "Manager")', ou_staff,
                                  "OneLevel", last_update=stamp, version=self.version), [])
        parent = add_group("Dyn-Company", ou_dyn, GroupType.PARENT_DYNASTY,
                           GroupDefinition(GroupType.PARENT_DYNASTY, ["user"], "(company Present)", ou_staff,
                                           group_by="company", expiry_days=365, last_update=stamp,
                                           version=self.version), [])
        for company in companies:
            middle = add_group(f"Dyn-Company-{company}", ou_dyn, GroupType.MIDDLE_DYNASTY,
                               GroupDefinition(GroupType.MIDDLE_DYNASTY, ["user"], f'(company Equals "{company}")',
                                               ou_staff, group_by="department", parent_dn=parent,
                                               expiry_days=365, last_update=stamp, version=self.version), [])
            for dept in departments[:2]:
                add_group(f"Dyn-Company-{company}-{dept}", ou_dyn, GroupType.LEAF_DYNASTY,
                          GroupDefinition(GroupType.LEAF_DYNASTY, ["user"],
                                          f'(&(company Equals "{company}")(department Equals "{dept}"))', ou_staff,
                                          parent_dn=middle, expiry_days=365, last_update=stamp,
                                          version=self.version), [])
        add_group("PwdExpiry-14Days", ou_smart, GroupType.PASSWORD_EXPIRY,
                  GroupDefinition(GroupType.PASSWORD_EXPIRY, ["user"], "(passwordExpiresInDays LessThan 14)",
                                  ou_staff, last_update=stamp, version=self.version), [])
        # the rest: Smart Groups with varied criteria
        i = 0
        while len(groups) < self.spec.groups:
            i += 1
            dept = departments[i % len(departments)]
            add_group(f"Smart-Generated-{i:05d}", ou_smart, GroupType.SMART_GROUP,
                      GroupDefinition(GroupType.SMART_GROUP, ["user"],
                                      f'(&(department Equals "{dept}")(title Equals "{titles[i % len(titles)]}"))',
                                      ou_staff, expiry_days=rng.choice([None, 30, 60, 90]), last_update=stamp,
                                      version=self.version), [])
        return entries, groups

    # --- certificates ----------------------------------------------------------------------------
    def _write_certificates(self) -> None:
        from .certificates import write_pfx

        folder = self.root / "certs"
        folder.mkdir()
        s = self.secrets
        self.pfx = {
            "entra": write_pfx(folder / "contoso-entra.pfx", "CN=GroupID Contoso Entra app", s.entra_pfx_password,
                               seed=self.rng.getrandbits(64)),
            "o365": write_pfx(folder / "fabrikam-o365.pfx", "CN=GroupID Fabrikam Office 365", s.o365_pfx_password,
                              seed=self.rng.getrandbits(64)),
            "job-o365": write_pfx(folder / "job-o365.pfx", "CN=GroupID Synchronize Office 365",
                                  s.job_o365_pfx_password, seed=self.rng.getrandbits(64)),
        }

    # --- database ----------------------------------------------------------------------------------
    def _write_database(self) -> None:
        self.db_path = self.root / "source" / f"GroupID{self.version.split('.')[0]}.db"
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        db = open_sqlite(self.db_path, read_only=False, create=True)
        self.db = db
        salt = new_salt()
        self.box = SecretBox(self.secrets.source_passphrase, salt, owner="source")
        s = self.secrets
        box = self.box
        for table in schema.TABLES:
            db.execute(create_table(table.name, table.columns, (table.key,), "sqlite"))
        # History is read per identity store in HistoryId order (R14): the index serves that order.
        db.execute(create_index("Hist_History_Store", schema.HISTORY.name, ("IdentityStoreId", "HistoryId"), "sqlite"))
        product = "10.0.2416.1 SR1" if self.version == "10.0" else "9.0.1152.0"
        settings = [
            (schema.SETTING_PRODUCT_VERSION, product),
            (schema.SETTING_SERVER_DOMAIN, CORP),
            (schema.SETTING_PASSPHRASE_SALT, salt),
            (schema.SETTING_PASSPHRASE_CHECK, box.check_value()),
            (schema.SETTING_REPLICATION_LOG_LEVEL, "Verbose"),
            (schema.SETTING_DATA_LOG_LEVEL, "Information"),
        ]
        created = "2021-03-04T10:00:00+00:00"
        stores = [
            (STORE_FABRIKAM, "Fabrikam", "ActiveDirectory", FABRIKAM, 1,
             "Server=dc01.fabrikam.example.com;Port=389;SSL=False",
             r"FABRIKAM\svc-groupid", box.encrypt(s.fabrikam_service), None, None, None, created),
            (STORE_CONTOSO, "Contoso Cloud", "MicrosoftAzure", "contoso.onmicrosoft.com", 1,
             "Tenant=contoso.onmicrosoft.com", None, None, "3f0d9b5e-7c1a-4d8e-9a51-0c2b6d4e8f10",
             "AzurePublic", "contoso.com", created),
            (STORE_LEGACY, "Legacy", "ActiveDirectory", "legacy.example.net", 0,
             "Server=dc01.legacy.example.net;Port=389;SSL=False", r"LEGACY\svc-groupid",
             box.encrypt(s.legacy_service), None, None, None, created),
            (STORE_GOOGLE, "Google", "GoogleWorkspace", "example.org", 1, "Customer=C01abc2de",
             "groupid@example-org.iam.gserviceaccount.com", box.encrypt(s.google_service), None, None, None,
             created),
        ]
        if self.spec.with_faults:
            stores.append((STORE_BROKEN, "Broken", "ActiveDirectory", "broken.example.com", 1,
                           'Server="dc01.broken.example.com;Port=389', r"BROKEN\svc-groupid",
                           box.encrypt(s.fabrikam_service), None, None, None, created))
        if self.version == "9.0":
            # 9.0 knows no Cloud or primary domain for Entra ID stores (docs/formats.md, Source 9.0).
            stores = [row[:9] + (None, None) + row[11:] for row in stores]
        messaging = [
            (1, STORE_FABRIKAM, "Office365", FABRIKAM, None, None, "7b1e2c44-5d6f-4a88-b9c0-d1e2f3a4b5c6",
             "AzurePublic"),
            (2, STORE_LEGACY, "Exchange2016", "legacy.example.net", r"LEGACY\svc-mail", box.encrypt(s.exchange),
             None, None),
        ]
        reports = [
            (1, "Groups by owner", "Groups", "Groups/Groups by owner.pdf", CORP, "2024-04-30T23:00:00+00:00"),
            (2, "Expired groups", "Groups", "Groups/Expired groups.pdf", CORP, "2024-04-30T23:05:00-05:00"),
            (3, "Users without manager", "Users", "Users/Users without manager.xlsx", CORP,
             "2024-04-30T23:10:00+05:30"),
        ]
        approvers = [
            (1, STORE_FABRIKAM, "Join group", "Variable", "managedBy"),
            (2, STORE_FABRIKAM, "Create group", "Variable", "additionalOwner"),
            (3, STORE_FABRIKAM, "Delete group", "Fixed", "0b6f4e7a-3f3c-4d2b-8a51-2c9e1d7f6a30"),
        ]
        managed = []
        mid = 0
        for domain, store in ((FABRIKAM, STORE_FABRIKAM),):
            guid_by_dn = {g["dn"]: g["guid"] for g in self.groups_by_domain[domain]}
            for g in self.groups_by_domain[domain]:
                mid += 1
                conn = None
                if g["cn"] == "Smart-Engineering":
                    conn = "Provider=SqlServer;Server=sql01.fabrikam.example.com;Database=HR;Table=Staff"
                managed.append((mid, store, g["guid"], g["dn"], g["cn"], g["type"],
                                guid_by_dn.get(g["parent_dn"]) if g["parent_dn"] else None, conn, None))
        for k in range(3):
            mid += 1
            managed.append((mid, STORE_LEGACY, self.guid(), f"CN=Legacy-Smart-{k},OU=Groups,DC=legacy,DC=example,DC=net",
                            f"Legacy-Smart-{k}", 2, None, None, None))
        with transaction(db) as cur:
            for table, rows in ((schema.SETTING, settings), (schema.IDENTITY_STORE, stores),
                                (schema.MESSAGING_PROVIDER, messaging), (schema.REPORT, reports),
                                (schema.WORKFLOW_APPROVER, approvers), (schema.MANAGED_GROUP, managed)):
                cur.executemany(insert(table.name, table.column_names, "sqlite"), rows)

    # --- Synchronize jobs ----------------------------------------------------------------------------
    def _job(self, key: str, name: str, source: tuple[str, str], dest: tuple[str, str], *,
             messaging: dict[str, str | None] | None = None, script: str | None = None) -> JobDocument:
        job_id = self.guid()
        self.job_ids[key] = job_id
        return {"id": job_id, "name": name,
                "source": {"provider": source[0], "connectionString": source[1]},
                "destination": {"provider": dest[0], "connectionString": dest[1]},
                "messaging": messaging, "script": script}

    def _ad(self, domain: str, container: str = "OU=Staff") -> tuple[str, str]:
        password = self.box.encrypt(self.secrets.job_passwords[domain.lower().rstrip(".")])
        user = f"{domain.split('.')[0].upper()}\\svc-sync"
        return ("ActiveDirectory",
                f"Domain={domain};Server=dc01.{domain.rstrip('.')};Container={container},{dn_of_domain(domain.rstrip('.'))};"
                f"UserName={user};Password={password}")

    def _write_jobs(self) -> None:
        folder = self.layout.synchronize_jobs
        for sub in ("Jobs", "Group Jobs", "Job Templates", "Job Group Templates"):
            (folder / sub).mkdir(parents=True)
        text = ("Text", r"Provider=Text;Path=\\fs01\hr\staff.csv;Delimiter=,;Header=true")
        excel = ("Excel", r"Provider=Excel;Path=\\fs01\hr\contractors.xlsx;Sheet=Contractors")
        sql = ("SqlServer", "Provider=SqlServer;Server=sql01.fabrikam.example.com;Database=HR;Table=Staff")
        odbc = ("Odbc", "Provider=Odbc;Dsn=PartnerFeed;Table=Partners")
        script = ('\' Map the employee number\nDim path As String = "C:\\Scripts\\map.vb"\n'
                  'Return Source("EmployeeId")')
        jobs = [
            self._job("hr-corp", "HR staff to Corp", text, self._ad(CORP), script=script),
            self._job("child", "Contractors to Child", excel, self._ad("child.corp.example.com")),
            self._job("sales", "Sales feed", sql, self._ad("Sales.Corp.Example.Com.")),
            self._job("fabrikam", "Partners to Fabrikam", odbc, self._ad("FABRIKAM.example.com")),
            self._job("fabrikam-o365", "Fabrikam mail users", text, self._ad(FABRIKAM),
                      messaging={"Provider": "Office365", "Domain": FABRIKAM}),
            self._job("partner", "Partner directory", text, self._ad("partner.example.net")),
            self._job("eu", "Northwind EU", text, self._ad("eu.northwind.example.org")),
            self._job("us", "Northwind US", text, self._ad("us.northwind.example.org")),
            self._job("legacy", "Legacy accounts", text, self._ad("legacy.example.net")),
            self._job("entra", "Contoso cloud users", sql,
                      ("MicrosoftAzure", "Domain=contoso.onmicrosoft.com;Tenant=contoso.onmicrosoft.com")),
            self._job("export-fabrikam", "Fabrikam export", ("ActiveDirectory", f"Domain={FABRIKAM}"),
                      ("Text", r"Provider=Text;Path=\\fs01\exports\fabrikam.csv")),
            self._job("export-corp", "Corp export", ("ActiveDirectory", f"Domain={CORP}"),
                      ("Excel", r"Provider=Excel;Path=\\fs01\exports\corp.xlsx;Sheet=All")),
        ]
        for job in jobs:
            (folder / "Jobs" / f"{job['name']}.dtmconfig").write_bytes(render_job(job, self.version))
        nightly: CollectionDocument = {"id": self.guid(), "name": "Nightly directory feeds", "jobs": [
            self._job("nightly-1", "Nightly HR to Corp", text, self._ad(CORP)),
            self._job("nightly-2", "Nightly contractors to Child", excel, self._ad("child.corp.example.com")),
        ]}
        exports: CollectionDocument = {"id": self.guid(), "name": "Weekly exports", "jobs": [
            self._job("weekly-1", "Weekly Fabrikam export", ("ActiveDirectory", f"Domain={FABRIKAM}"),
                      ("Text", r"Provider=Text;Path=\\fs01\exports\weekly-fabrikam.csv")),
        ]}
        self.collection_ids = {"nightly": nightly["id"], "exports": exports["id"]}
        for coll in (nightly, exports):
            (folder / "Group Jobs" / f"{coll['name']}.dtmconfig").write_bytes(render_collection(coll, self.version))
        template = self._job("template", "Template: CSV to AD", text, ("ActiveDirectory", f"Domain={CORP}"))
        (folder / "Job Templates" / "CSV to AD.dtmconfig").write_bytes(render_job(template, self.version))
        coll_template: CollectionDocument = {"id": self.guid(), "name": "Template: nightly pair", "jobs": [
            self._job("template-c1", "Template step 1", text, ("ActiveDirectory", f"Domain={CORP}"))]}
        (folder / "Job Group Templates" / "Nightly pair.dtmconfig").write_bytes(
            render_collection(coll_template, self.version))
        if self.spec.with_faults:
            whole = render_job(self._job("truncated", "Truncated job", text, self._ad(CORP)), self.version)
            (folder / "Jobs" / "Truncated job.dtmconfig").write_bytes(whole[: len(whole) // 2])
            bad = self._job("bad-destination", "Unparseable destination", text, ("ActiveDirectory", "x"))
            bad["destination"]["connectionString"] = 'Domain="corp.example.com;Server=dc01'
            (folder / "Jobs" / "Unparseable destination.dtmconfig").write_bytes(render_job(bad, self.version))
        self._write_schedules()

    def _write_schedules(self) -> None:
        j, c = self.job_ids, self.collection_ids
        schedules = [
            (1, "Nightly HR", "Synchronize", None, "Daily", "02:00", 1, [("Job", j["hr-corp"])]),
            (2, "Fabrikam mixed", "Synchronize", None, "Daily", "03:00", 1,
             [("Job", j["fabrikam"]), ("Job", j["export-fabrikam"])]),
            (3, "Exports only", "Synchronize", None, "Weekly", "Sun 04:00", 1,
             [("Job", j["export-fabrikam"]), ("Job", j["export-corp"])]),
            (4, "Two stores", "Synchronize", None, "Daily", "05:00", 1,
             [("Job", j["fabrikam"]), ("Job", j["partner"])]),
            (5, "Nightly collection", "Synchronize", None, "Daily", "01:00", 1,
             [("JobCollection", c["nightly"])]),
            (6, "Weekly exports collection", "Synchronize", None, "Weekly", "Sat 04:00", 1,
             [("JobCollection", c["exports"])]),
            (7, "Legacy sync", "Synchronize", None, "Daily", "06:00", 1, [("Job", j["legacy"])]),
            (8, "Insights", "Insights", STORE_FABRIKAM, "Daily", "00:30", 1, []),
            (9, "Smart Group Update", "SmartGroupUpdate", STORE_FABRIKAM, "Interval", "60", 1, []),
            (10, "Legacy lifecycle", "GroupLifeCycle", STORE_LEGACY, "Daily", "07:00", 1, []),
            (11, "Corp and Fabrikam", "Synchronize", None, "Daily", "08:00", 1,
             [("Job", j["hr-corp"]), ("Job", j["fabrikam-o365"])]),
        ]
        rows, targets = [], []
        tid = 0
        for sid, name, jt, store, trig, data, enabled, tlist in schedules:
            rows.append((sid, name, jt, store, trig, data, enabled))
            for kind, target in tlist:
                tid += 1
                targets.append((tid, sid, kind, target))
        with transaction(self.db) as cur:
            cur.executemany(insert(schema.SCHEDULE.name, schema.SCHEDULE.column_names, "sqlite"), rows)
            cur.executemany(insert(schema.SCHEDULE_TARGET.name, schema.SCHEDULE_TARGET.column_names, "sqlite"), targets)

    # --- folders ---------------------------------------------------------------------------------
    def _write_folders(self) -> None:
        lay = self.layout
        for rel, body in (
            ("Groups/Groups by owner.pdf", b"%PDF-1.4\n% sample report: groups by owner\n%%EOF\n"),
            ("Groups/Expired groups.pdf", b"%PDF-1.4\n% sample report: expired groups\n%%EOF\n"),
            ("Users/Users without manager.xlsx", b"PK\x03\x04 sample workbook\n"),
        ):
            path = lay.reports / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
        for portal, folder in (("Self-Service", lay.self_service_portals / "GroupIDPortal"),
                               ("Password Center", lay.password_center_portal / "GroupIDPasswordCenter"),
                               ("Helpdesk", lay.password_center_helpdesk / "GroupIDHelpdesk")):
            (folder / "App_Data").mkdir(parents=True)
            (folder / "web.config").write_text(
                f'<?xml version="1.0"?>\n<configuration><appSettings><add key="Portal" value="{portal}"/>'
                f'</appSettings></configuration>\n', encoding="utf-8")
            (folder / "App_Data" / "design.xml").write_text(
                f'<?xml version="1.0"?>\n<Design Portal="{portal}" Theme="Blue"/>\n', encoding="utf-8")
        lay.replication_attributes.mkdir(parents=True)
        for domain, store in ((FABRIKAM, STORE_FABRIKAM), ("legacy.example.net", STORE_LEGACY)):
            (lay.replication_attributes / lay.replication_attribute_file(domain, store)).write_text(
                '<?xml version="1.0"?>\n<ReplicationAttributes><ObjectType Name="user"><Attribute Name="department"/>'
                '<Attribute Name="title"/></ObjectType></ReplicationAttributes>\n', encoding="utf-8")
        for name, store in (("Fabrikam", STORE_FABRIKAM), ("Legacy", STORE_LEGACY)):
            folder = lay.password_exception_lists / lay.password_exception_folder(name, store)
            folder.mkdir(parents=True)
            (folder / "DisallowedPasswords.txt").write_text("Password1\nWelcome123\nFabrikam2024\n", encoding="utf-8")
        lay.elasticsearch_data.mkdir(parents=True)

    # --- history (streamed) ----------------------------------------------------------------------
    def _history_rows(self) -> Iterator[HistoryRow]:
        rng = random.Random(self.spec.seed * 7919 + 1)
        stores = [STORE_FABRIKAM] * 9 + [STORE_CONTOSO] * 4 + [STORE_LEGACY] * 3 + [STORE_GOOGLE]
        categories = [c for c, w in (("IdentityStore", 6), ("AdminCenter", 2), ("Helpdesk", 1),
                                     ("Synchronize", 2)) for _ in range(w)]
        zones = [timezone.utc, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]
        start = datetime(2019, 1, 1, tzinfo=timezone.utc)
        groups = self.groups_by_domain[FABRIKAM]
        for hid in range(1, self.spec.history + 1):
            category = rng.choice(categories)
            action = rng.choice(schema.HISTORY_ACTIONS[category])
            group = groups[hid % len(groups)]
            when = (start + timedelta(seconds=hid * 37 + rng.randrange(30))).astimezone(rng.choice(zones))
            old = f"Owner {rng.randrange(1000)}" if action.endswith("Change") else None
            yield (hid, rng.choice(stores), category, action, group["guid"], group["dn"],
                   f"CN=Admin {rng.randrange(20)},OU=Staff,DC=fabrikam,DC=example,DC=com", old,
                   f"Value {hid} — ünïcode" if old else None, f"{action} by the sample", when.isoformat())

    def _write_history(self) -> None:
        sql = insert(schema.HISTORY.name, schema.HISTORY.column_names, "sqlite")
        total = self.spec.history
        batch: list[HistoryRow] = []
        written = 0
        for row in self._history_rows():
            batch.append(row)
            if len(batch) >= HISTORY_BATCH:
                written += self._flush_history(sql, batch)
                self.reporter.check_cancelled("the sample generation")
                self.reporter.progress("sample-history", "Writing history rows", f"{written} of {total}", written,
                                       total, parent_activity_id="sample")
        written += self._flush_history(sql, batch)
        # A GroupID database is handed over as one file: no WAL beside it, so it opens read-only.
        self.db.execute(SQLITE_ONLY["journal_mode_delete"])
        self.db.close()

    def _flush_history(self, sql: str, batch: list[HistoryRow]) -> int:
        if not batch:
            return 0
        with transaction(self.db) as cur:
            cur.executemany(sql, batch)
        n = len(batch)
        batch.clear()
        return n

    # --- answer file -------------------------------------------------------------------------------
    def _pfx_answer(self, pfx: str, app_id: str) -> dict[str, str]:
        return {"pfxFile": f"certs/{pfx}", "applicationId": app_id}

    def _answers(self) -> dict[str, object]:
        """Answers to every question the plan of this sample asks (docs/sample.md); secrets apart."""
        answers: dict[str, object] = {
            f"entra:{STORE_CONTOSO}:credentials": self._pfx_answer("contoso-entra.pfx",
                                                                   "3f0d9b5e-7c1a-4d8e-9a51-0c2b6d4e8f10"),
            f"o365:{STORE_FABRIKAM}:credentials": self._pfx_answer("fabrikam-o365.pfx",
                                                                   "7b1e2c44-5d6f-4a88-b9c0-d1e2f3a4b5c6"),
            f"job:{self.job_ids['fabrikam-o365']}:o365Credentials": self._pfx_answer(
                "job-o365.pfx", "0c9a8b7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"),
            # a service account typed in (its password in secrets.json) ...
            "forest:corp.example.com:serviceAccount": {"userName": "CORP\\svc-groupid11"},
            # ... one taken from a job, as the plan pre-fills it ...
            "forest:partner.example.net:serviceAccount": {"userName": "PARTNER\\svc-sync",
                                                          "passwordFromJob": self.job_ids["partner"]},
            # ... and gMSAs, which take no password
            "forest:eu.northwind.example.org:serviceAccount": {"userName": "NORTHWIND\\gmsa-groupid$"},
            "forest:us.northwind.example.org:serviceAccount": {"userName": "NORTHWIND\\gmsa-groupid$"},
        }
        for schedule_id in (3, 4, 6, 11):  # file-only or two-store schedules (R11): Fabrikam
            answers[f"schedule:{schedule_id}:store"] = STORE_FABRIKAM
        return answers

    def _answer_secrets(self) -> dict[str, dict[str, str]]:
        s = self.secrets
        return {
            f"entra:{STORE_CONTOSO}:credentials": {"clientSecret": s.entra_client_secret,
                                                   "pfxPassword": s.entra_pfx_password},
            f"o365:{STORE_FABRIKAM}:credentials": {"clientSecret": s.o365_client_secret,
                                                   "pfxPassword": s.o365_pfx_password},
            f"job:{self.job_ids['fabrikam-o365']}:o365Credentials": {"clientSecret": s.job_o365_client_secret,
                                                                     "pfxPassword": s.job_o365_pfx_password},
            "forest:corp.example.com:serviceAccount": {"password": s.corp_service},
        }

    def _write_answer_file(self) -> None:
        s = self.secrets
        target_name = version_folder_name("11.0")  # 11.1 keeps the 11.0 paths (domain brief, section 12)
        answers = {
            "formatVersion": 1,
            "source": {
                "version": self.version,
                "database": {"kind": "sqlite", "path": f"source/{self.db_path.name}"},
                "programFiles": str(self.layout.program_files.relative_to(self.root).as_posix()),
                "programData": str(self.layout.program_data.relative_to(self.root).as_posix()),
            },
            "target": {
                "version": "11.1" if self.version == "10.0" else "11.0",
                "database": {"kind": "sqlite", "path": "target/GroupID11.db"},
                "programFiles": f"target/Program Files/Imanami/{target_name}",
                "programData": f"target/ProgramData/Imanami/{target_name}",
            },
            # Every module; Groups is Skipped until the domain controllers are added under directories.
            "modules": ["Configuration", "Synchronize", "Schedules", "Reports", "History", "Groups"],
            "answers": self._answers(),
            "directories": {},
            "secretsFile": "secrets.json",
        }
        secrets = {
            "source": {"passphrase": s.source_passphrase},
            "target": {"passphrase": s.target_passphrase},
            "answers": self._answer_secrets(),
        }
        (self.root / "answers.json").write_text(json.dumps(answers, indent=2) + "\n", encoding="utf-8")
        secrets_path = self.root / "secrets.json"
        fd = os.open(secrets_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(secrets, indent=2) + "\n")
        # The directory administrator password for test beds seeded from this sample.
        manifest = {
            "version": self.version, "seed": self.spec.seed, "groupsPerDomain": self.spec.groups,
            "history": self.spec.history, "withFaults": self.spec.with_faults,
            "directoryDomains": list(DIRECTORY_DOMAINS), "jobIds": self.job_ids,
            "collectionIds": self.collection_ids,
        }
        (self.root / "sample.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _ldif_line(attr: str, value: bytes) -> str:
    """One ``attr: value`` line, base64 (``::``) when RFC 2849 requires it."""
    safe = bool(value) and value[0] not in b" :<" and value[-1:] != b" " and all(
        32 <= b < 127 for b in value)
    if safe:
        return f"{attr}: {value.decode('ascii')}\n"
    return f"{attr}:: {base64.b64encode(value).decode('ascii')}\n"


def generate_sample(spec: SampleSpec, reporter: Reporter | None = None) -> Path:
    return SampleGenerator(spec, reporter).generate()
