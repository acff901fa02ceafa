"""The Elasticsearch part: a snapshot through the ``_snapshot`` REST endpoints into a registered
``fs`` repository (R17), its repository folder copied and hashed into the set when this machine can
read it; or, only with ``--elasticsearch-stopped`` and no node answering, a copy of the data folder.

The GroupID 10 node's Elasticsearch version is not documented: only ``GET /``, ``_snapshot``
(repository get/put, snapshot create/get/delete/restore), ``_count`` and index open/close are used,
all stable since Elasticsearch 5. Tested against Elasticsearch 8.14 (the test bed's node).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import elasticsearch

from ..errors import EngineError
from ..model.settings import ElasticsearchSettings
from ..reporting import Reporter
from ..storage import connections
from ..storage.search import SearchClient, public_url
from .manifest import SnapshotPart


def search_client(settings: ElasticsearchSettings) -> SearchClient:
    return connections.search_client(settings, request_timeout=120)  # snapshots answer slowly


def index_pattern(settings: ElasticsearchSettings) -> str:
    """The indices backed up: ``<indexPrefix>*`` (every non-hidden index when the prefix is empty)."""
    return f"{settings.index_prefix}*" if settings.index_prefix else "*"


def _indices(client: SearchClient, pattern: str) -> list[str]:
    try:
        body = client.client.indices.get(index=pattern, expand_wildcards="open", allow_no_indices=True).body
    except (elasticsearch.ApiError, elasticsearch.TransportError) as exc:
        raise client._error(exc, f"list the indices {pattern!r}") from None
    return sorted(name for name in body if not name.startswith("."))


def repository_location(client: SearchClient, settings: ElasticsearchSettings) -> str:
    """Register the repository when missing; return its location as the server sees it."""
    name = settings.snapshot_repository
    existing = client.get_repository(name)
    if settings.snapshot_location:
        client.ensure_fs_repository(name, settings.snapshot_location)
        return settings.snapshot_location
    if existing is None:
        raise EngineError("SnapshotRepositoryInvalid", f"The snapshot repository {name!r} is not registered on "
                          f"{client.url} and the answer file gives no source.elasticsearch.snapshotLocation to "
                          "register it at.", target="source.elasticsearch.snapshotLocation",
                          recommended_action="Set snapshotLocation to a folder under the node's path.repo setting "
                          "(and snapshotLocalPath to the same folder as this machine sees it, to copy it into the set).")
    if existing.get("type") != "fs":
        raise EngineError("SnapshotRepositoryInvalid", f"The snapshot repository {name!r} on {client.url} is of type "
                          f"{existing.get('type')}, not fs.", target=f"snapshot repository {name}",
                          recommended_action="Name an fs repository in source.elasticsearch.snapshotRepository.")
    return str((existing.get("settings") or {}).get("location"))


def take_snapshot(settings: ElasticsearchSettings, set_id: str, reporter: Reporter) -> SnapshotPart:
    with search_client(settings) as client:
        version = client.version()
        location = repository_location(client, settings)
        indices = _indices(client, index_pattern(settings))
        if not indices:
            raise EngineError("SearchOperationFailed", f"Elasticsearch at {client.url} has no index matching "
                              f"{index_pattern(settings)!r} to back up.", target=client.url,
                              recommended_action="Set source.elasticsearch.indexPrefix to the prefix of the GroupID "
                              "indices (or to \"\" for every index).")
        counts = {index: client.count(index) for index in indices}
        snapshot = f"groupid-backup-{set_id}".lower()
        reporter.progress("backup-es", "Backing up Elasticsearch", f"snapshot {snapshot}", 0, 1)
        info = client.create_snapshot(settings.snapshot_repository, snapshot, indices, wait=False)
        # Polled rather than one long request, so a cancel is honoured while the snapshot runs.
        while True:
            described = client.get_snapshot(settings.snapshot_repository, snapshot)
            state = (described or {}).get("state")
            if state in ("SUCCESS", "FAILED", "PARTIAL", "INCOMPATIBLE"):
                break
            if reporter.cancelled:
                client.delete_snapshot(settings.snapshot_repository, snapshot)
                reporter.check_cancelled("the backup")
            time.sleep(0.2)
        if state != "SUCCESS":
            failures = "; ".join(f"{f.get('index')}[{f.get('shard_id')}]: {f.get('reason')}"
                                 for f in (described or {}).get("failures") or [])
            raise EngineError("SearchOperationFailed", f"The snapshot {snapshot!r} on {client.url} ended in state "
                              f"{state}{': ' + failures if failures else ''}.", target=f"snapshot {snapshot}",
                              recommended_action="Fix the shard failures' cause (disk space, unassigned shards) and "
                              "back up again.")
        del info
        reporter.progress("backup-es", "Backing up Elasticsearch", "snapshot taken", 1, 1, completed=True)
        return SnapshotPart(method="snapshot", url=public_url(settings.url), server_version=version,
                            repository=settings.snapshot_repository, location=location, snapshot=snapshot,
                            state=state, indices=sorted((described or {}).get("indices") or indices),
                            document_counts=counts)


def node_answers(settings: ElasticsearchSettings) -> bool:
    """True when any Elasticsearch answers at the URL (a refusal of the credentials is an answer too)."""
    try:
        with search_client(settings) as client:
            client.info()
    except EngineError as exc:
        return exc.error_id != "SearchUnreachable"
    return True


def snapshot_problem(settings: ElasticsearchSettings | None, part: SnapshotPart) -> str | None:
    """None when the snapshot exists in its repository in state SUCCESS; else what is wrong."""
    if settings is None:  # no answer file: the manifest's URL, without credentials
        settings = ElasticsearchSettings(url=part.url or "", snapshot_repository=part.repository or "")
    try:
        with search_client(settings) as client:
            info = client.get_snapshot(part.repository or "", part.snapshot or "")
    except EngineError as exc:
        return f"cannot be checked: {exc.message}"
    if info is None:
        return (f"the snapshot {part.snapshot!r} no longer exists in the repository {part.repository!r} "
                f"on {part.url}")
    if info.get("state") != "SUCCESS":
        return f"the snapshot {part.snapshot!r} is in state {info.get('state')}, not SUCCESS"
    return None


def restore_snapshot(settings: ElasticsearchSettings, part: SnapshotPart, reporter: Reporter) -> dict[str, int]:
    """Restore every index of the snapshot; an existing index is closed first (Elasticsearch restores
    over a closed index with the same shard count). Returns the document count per index after."""
    with search_client(settings) as client:
        for index in part.indices:
            if client.index_exists(index):
                try:
                    client.client.indices.close(index=index)
                except (elasticsearch.ApiError, elasticsearch.TransportError) as exc:
                    raise client._error(exc, f"close the index {index!r} before restoring it") from None
        reporter.progress("restore-es", "Restoring Elasticsearch", f"snapshot {part.snapshot}", 0, 1)
        client.restore_snapshot(part.repository or "", part.snapshot or "", part.indices, wait=True)
        counts: dict[str, int] = {}
        for index in part.indices:
            client.refresh(index)
            counts[index] = client.count(index)
        reporter.progress("restore-es", "Restoring Elasticsearch", "restored", 1, 1, completed=True)
        return counts


def existing_indices(settings: ElasticsearchSettings, part: SnapshotPart) -> list[str]:
    with search_client(settings) as client:
        return [index for index in part.indices if client.index_exists(index)]


def local_repository(settings: ElasticsearchSettings) -> Path | None:
    path = settings.snapshot_local_path
    if path is None:
        return None
    path = Path(path)
    return path if path.is_dir() and os.access(path, os.R_OK) else None


def repository_from_set(settings: ElasticsearchSettings, part: SnapshotPart, set_dir: Path, set_id: str,
                        reporter: Reporter) -> tuple[str, Path]:
    """Put the set's copy of the repository back beside the original one and register it read-only,
    for a snapshot that is gone from the repository. Returns (repository name, local folder)."""
    local, location = settings.snapshot_local_path, settings.snapshot_location or part.location
    if local is None or not location:
        raise EngineError("SnapshotRepositoryInvalid", f"The snapshot {part.snapshot!r} is gone from the repository "
                          "and the answer file does not say where to put the set's copy of it back.",
                          target="source.elasticsearch.snapshotLocalPath",
                          recommended_action="Set snapshotLocation and snapshotLocalPath (the same folder as the "
                          "node and this machine see it), then restore again.")
    suffix = f"-restore-{set_id}"
    local_dir = Path(str(local).rstrip("/\\") + suffix)
    server_dir = location.rstrip("/\\") + suffix
    name = f"{part.repository}{suffix}"
    if not local_dir.exists():
        from .files import copy_tree_hashed

        copy_tree_hashed(set_dir / (part.copied_into or ""), local_dir, reporter, activity="Elasticsearch")
    with search_client(settings) as client:
        try:
            client.client.snapshot.create_repository(
                name=name, repository={"type": "fs", "settings": {"location": server_dir, "readonly": True}})
        except (elasticsearch.ApiError, elasticsearch.TransportError) as exc:
            raise client._error(exc, f"register the set's copy of the repository at {server_dir!r}",
                                f"snapshot repository {name}") from None
    return name, local_dir


def forget_repository(settings: ElasticsearchSettings, name: str, local_dir: Path) -> None:
    """Unregister a repository registered from a set, and remove its folder (best effort)."""
    import contextlib
    import shutil

    with contextlib.suppress(Exception), search_client(settings) as client:
        client.client.snapshot.delete_repository(name=name)
    shutil.rmtree(local_dir, ignore_errors=True)
