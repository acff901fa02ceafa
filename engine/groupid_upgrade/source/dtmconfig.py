"""Synchronize ``.dtmconfig`` files: read (safely) and written (by the sample generator).

Every XML file is parsed with defusedxml and DTDs forbidden: no entity is ever expanded, so an
external entity or an entity bomb is refused unread (R16). The element layout is in
docs/formats.md, "Synchronize jobs".
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

from ..errors import EngineError
from ..model.installation import JobCollection, JobMessaging, Provider, SyncJob, parse_connection_string

FORMAT_VERSION = "1"
MAX_FILE_BYTES = 16 * 1024 * 1024


class ProviderDocument(TypedDict):
    provider: str
    connectionString: str


class _JobDocumentKeys(TypedDict):
    id: str
    name: str
    source: ProviderDocument
    destination: ProviderDocument


class JobDocument(_JobDocumentKeys, total=False):
    """What ``render_job`` writes as one <Job> (the sample generator's and the tests' plain form)."""

    enabled: bool
    messaging: dict[str, str | None] | None  # <Messaging> attributes (Provider, Domain); None ones left out
    script: str | None


class CollectionDocument(TypedDict):
    id: str
    name: str
    jobs: list[JobDocument]


def _invalid(path: Path, what: str) -> EngineError:
    return EngineError(
        "DtmConfigInvalid",
        f"The Synchronize file {path} is not a valid .dtmconfig: {what}.",
        target=str(path),
        recommended_action="Repair or remove the file (a copy is in your backup), then run again; "
        "the other jobs are not affected.",
    )


def parse_xml(path: Path, data: bytes) -> Element:
    """Parse XML with no DTD and no entity expansion; errors name the file and position."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        return fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise EngineError(
            "XmlEntitiesForbidden",
            f"The file {path} declares a DTD or entities ({type(exc).__name__}); it was refused unexpanded.",
            target=str(path),
            recommended_action="GroupID never writes DTDs or entities: replace the file with the one from your backup.",
        ) from None
    except ParseError as exc:
        line, column = exc.position
        raise _invalid(path, f"XML error at line {line}, column {column + 1}") from None
    except LookupError:
        # expat looks up the encoding the XML declaration names; an unknown one is a LookupError
        raise _invalid(path, "its XML declaration (line 1) names an encoding that does not exist") from None


def _provider(path: Path, elem: Element | None, role: str) -> Provider:
    if elem is None:
        raise _invalid(path, f"the job has no <{role}> element")
    name = elem.get("Provider")
    if not name:
        raise _invalid(path, f"<{role}> has no Provider attribute")
    text = elem.get("ConnectionString", "")
    try:
        connection = parse_connection_string(text)
    except ValueError as exc:
        raise EngineError(
            "DestinationUnparseable" if role == "Destination" else "ConnectionStringInvalid",
            f"The {role.lower()} connection string in {path} cannot be parsed ({exc}).",
            target=str(path),
            recommended_action=f"Fix the {role} ConnectionString of the job in GroupID 10 or in the file.",
        ) from None
    provider = Provider(provider=name, connection=connection)
    if role == "Destination" and provider.is_directory and not provider.domain:
        raise EngineError(
            "DestinationUnparseable",
            f"The destination of the job in {path} is a directory ({name}) but names no Domain.",
            target=str(path),
            recommended_action="Add Domain=<dns name> to the destination connection string.",
        )
    return provider


def _job(path: Path, elem: Element, relative: str, kind: str, collection_id: str | None) -> SyncJob:
    job_id = elem.get("Id")
    name = elem.get("Name")
    if not job_id or not name:
        raise _invalid(path, "a <Job> lacks its Id or Name attribute")
    messaging = None
    msg = elem.find("Messaging")
    if msg is not None and msg.get("Provider"):
        try:
            messaging = JobMessaging.model_validate({"provider": msg.get("Provider"), "domain": msg.get("Domain")})
        except ValueError:
            raise _invalid(path, f"unknown messaging provider {msg.get('Provider')!r}") from None
    script = elem.find("Script")
    return SyncJob(
        id=job_id,
        name=name,
        file=relative,
        kind=kind,
        enabled=elem.get("Enabled", "true").lower() == "true",
        source=_provider(path, elem.find("Source"), "Source"),
        destination=_provider(path, elem.find("Destination"), "Destination"),
        messaging=messaging,
        script=script.text if script is not None else None,
        collection_id=collection_id,
    )


def read_dtmconfig(path: Path, relative: str, kind: str) -> SyncJob | JobCollection:
    """Read one file: a job (or job template) or a job collection (or collection template)."""
    from ..safety.reading import FileRefused, read_bytes

    try:
        data = read_bytes(path, limit=MAX_FILE_BYTES)  # a regular file, bounded: a FIFO named .dtmconfig never hangs
    except FileRefused as exc:
        raise _invalid(path, exc.reason) from None
    root = parse_xml(path, data)
    if root.tag != "DtmConfig":
        raise _invalid(path, f"the root element is <{root.tag}>, expected <DtmConfig>")
    if kind in ("job", "jobTemplate"):
        elem = root.find("Job")
        if elem is None:
            raise _invalid(path, "it holds no <Job>")
        return _job(path, elem, relative, kind, None)
    elem = root.find("JobCollection")
    if elem is None:
        raise _invalid(path, "it holds no <JobCollection>")
    coll_id, name = elem.get("Id"), elem.get("Name")
    if not coll_id or not name:
        raise _invalid(path, "the <JobCollection> lacks its Id or Name attribute")
    jobs = [_job(path, j, relative, "job" if kind == "collection" else "jobTemplate", coll_id)
            for j in elem.findall("Job")]
    return JobCollection(id=coll_id, name=name, file=relative, kind=kind, jobs=jobs)


# --- writing (sample generator and the 11 target share this layout) -----------------------------


def job_element(job: JobDocument) -> Element:
    """A <Job> element from a plain dict: id, name, source/destination (provider, connection), ..."""
    elem = Element("Job", {"Id": job["id"], "Name": job["name"], "Enabled": "true" if job.get("enabled", True) else "false"})
    for role in ("source", "destination"):
        prov = job[role]
        SubElement(elem, role.capitalize(), {"Provider": prov["provider"], "ConnectionString": prov["connectionString"]})
    messaging = job.get("messaging")
    if messaging:
        SubElement(elem, "Messaging", {k: v for k, v in messaging.items() if v is not None})
    script = job.get("script")
    if script:
        SubElement(elem, "Script", {"Language": "VBNet"}).text = script
    return elem


def render_job(job: JobDocument, version: str) -> bytes:
    root = Element("DtmConfig", {"Version": version, "Format": FORMAT_VERSION})
    root.append(job_element(job))
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + tostring(root, encoding="utf-8", xml_declaration=False)


def render_collection(collection: CollectionDocument, version: str) -> bytes:
    root = Element("DtmConfig", {"Version": version, "Format": FORMAT_VERSION})
    elem = SubElement(root, "JobCollection", {"Id": collection["id"], "Name": collection["name"]})
    for job in collection["jobs"]:
        elem.append(job_element(job))
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + tostring(root, encoding="utf-8", xml_declaration=False)
