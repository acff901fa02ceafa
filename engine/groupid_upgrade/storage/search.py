"""The one way the engine talks to Elasticsearch: a thin, typed layer over elasticsearch-py 8.x.

Used by the History upgrade (bulk indexing into the 11 indices) and by backup/restore (snapshots into a
registered ``fs`` repository, through the ``_snapshot`` REST endpoints only, which are stable across ES
versions). Every failure becomes an :class:`~groupid_upgrade.errors.EngineError`:

- ``SearchUnreachable``: the server does not answer (refused, timed out, TLS failure), after retries;
- ``SearchCredentialsRefused``: the server answered 401/403;
- ``SnapshotRepositoryInvalid``: an ``fs`` repository could not be registered (location not under
  ``path.repo``, not writable, or registered elsewhere already);
- ``SearchOperationFailed``: the server refused an operation (the reason it gave is in the message).

Messages name the server by its URL with any user information removed; credentials never appear.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import islice
from json.encoder import encode_basestring_ascii
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import elasticsearch
from elasticsearch import Elasticsearch, helpers
from pydantic import SecretStr

from ..errors import Cancelled, EngineError

#: Documents per bulk request. History documents are small (well under 1 KiB), so 1,000 of them make
#: a request of roughly 0.5-1 MiB: large enough that per-request overhead is negligible, small enough
#: that a retry after a 429 or a lost connection resends little and the engine's memory stays bounded.
DEFAULT_CHUNK_SIZE = 1000
#: Upper bound of one bulk request body. Elastic recommends bulk requests of about 5-15 MB; 10 MiB sits
#: in that range and far below the server's ``http.max_content_length`` (100 MB by default), so an
#: unusually large document splits the chunk instead of making the server reject the request (413).
DEFAULT_MAX_CHUNK_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_RETRIES = 5
DEFAULT_INITIAL_BACKOFF = 1.0
DEFAULT_MAX_BACKOFF = 60.0
#: Snapshot create/restore with ``wait=True`` can take long on a large index.
DEFAULT_SNAPSHOT_TIMEOUT = 3600.0

#: Bulk requests of a load in flight at once (one per index worker): Elastic advises a few concurrent
#: bulk clients; on the 2-core machines GroupID runs on, more only queue up in the server's write pool.
DEFAULT_BULK_IN_FLIGHT = 2
#: What a bulk answer is cut down to (``filter_path``): the server leaves out every field but these, so
#: a batch of 5,000 documents is answered in a few kilobytes instead of about a megabyte to parse.
BULK_ANSWER_FIELDS = "errors,items.*._id,items.*.status,items.*.error"
#: The settings of an index for the time of a bulk load: no refresh (visibility, not durability: a
#: bulk answer still means the documents are in the translog, fsynced) and no replica to index twice.
LOAD_SETTINGS: dict[str, Any] = {"index.refresh_interval": "-1", "index.number_of_replicas": 0}
#: The index's own values of LOAD_SETTINGS are kept in its mapping's ``_meta`` under this key while
#: a load runs, so a load killed before it could put them back is put right by the next one.
LOAD_MARK = "groupidUpgradeLoadRestores"

_UNREACHABLE = (elasticsearch.ConnectionError, elasticsearch.ConnectionTimeout)


@dataclass(frozen=True)
class BulkRefusal:
    """A document the server refused (not for a full write queue: those are resent)."""

    doc_id: str
    status: int | None
    reason: str


def bulk_index_body(docs: Sequence[tuple[str, str]]) -> bytes:
    """The NDJSON body of ``index`` actions for documents given as (id, JSON text), for ``/<index>/_bulk``.

    The documents are already JSON: they are copied into the body, never parsed or serialised again."""
    return "".join(f'{{"index":{{"_id":{encode_basestring_ascii(doc_id)}}}}}\n{text}\n'
                   for doc_id, text in docs).encode("utf-8")


def _request_parts(docs: Sequence[tuple[str, str]], max_bytes: int) -> Iterator[Sequence[tuple[str, str]]]:
    """``docs`` cut into runs whose bulk body stays under ``max_bytes`` (a single larger document alone)."""
    start, size = 0, 0
    for i, (doc_id, text) in enumerate(docs):
        # characters, not bytes: exact for ASCII, and at most 4x off for the rest, so the body
        # never grows past the server's limit (100 MB) at the default of 10 MiB
        item = len(doc_id) + len(text) + 24
        if size and size + item > max_bytes:
            yield docs[start:i]
            start, size = i, 0
        size += item
    if start < len(docs):
        yield docs[start:]


def public_url(url: str) -> str:
    """``url`` without user information, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url.rstrip("/")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)).rstrip("/")


def _reason(exc: elasticsearch.ApiError) -> str:
    """The server's own explanation of a refused request: ``type: reason`` of the root cause."""
    body = exc.body if isinstance(exc.body, Mapping) else {}
    error = body.get("error")
    if isinstance(error, Mapping):
        causes = error.get("root_cause")
        cause = causes[0] if isinstance(causes, list) and causes and isinstance(causes[0], Mapping) else error
        kind, reason = cause.get("type"), cause.get("reason")
        if error.get("caused_by") and isinstance(error["caused_by"], Mapping):
            reason = error["caused_by"].get("reason") or reason
        if kind or reason:
            return f"{kind}: {reason}" if kind else str(reason)
    if isinstance(error, str):
        return error
    return str(exc.message)


def _batched(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class SearchClient:
    """A connection to one Elasticsearch 8 cluster (the GroupID cluster or the customer's own)."""

    def __init__(
        self,
        url: str,
        username: str | None = None,
        password: SecretStr | None = None,
        ca_file: str | None = None,
        request_timeout: float = 30,
        max_retries: int = DEFAULT_MAX_RETRIES,
        initial_backoff: float = DEFAULT_INITIAL_BACKOFF,
    ) -> None:
        self.url = public_url(url)
        self.max_retries = max_retries
        self.initial_backoff = initial_backoff
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EngineError(
                "SearchUnreachable",
                f"The Elasticsearch address {self.url!r} is not an http:// or https:// URL.",
                target=self.url,
                recommended_action="Give the address as http(s)://host:port, for example https://es.corp.example.com:9200.",
            )
        options: dict[str, Any] = {
            "request_timeout": request_timeout,
            # connection errors are retried here with backoff (bulk_index), 429 by streaming_bulk
            "max_retries": 2,
            "retry_on_status": (502, 503, 504),
            "retry_on_timeout": False,
        }
        if username is None and parts.username is not None:  # http://user:password@host:9200
            username = unquote(parts.username)
            password = SecretStr(unquote(parts.password or ""))
        if username is not None:
            options["basic_auth"] = (username, password.get_secret_value() if password is not None else "")
        if ca_file is not None:
            from ..safety.reading import CA_FILE_BYTES, check_readable

            check_readable(ca_file, what="CA file", limit=CA_FILE_BYTES, error_id="SearchUnreachable", target=self.url)
            options["ca_certs"] = ca_file
        # the URL without user information; credentials travel only through basic_auth
        self._es = Elasticsearch(self.url, **options)

    # --- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        self._es.close()

    def __enter__(self) -> SearchClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def client(self) -> Elasticsearch:
        """The underlying elasticsearch-py client, for reads this layer does not cover."""
        return self._es

    # --- errors ---------------------------------------------------------------------------------

    def _error(self, exc: Exception, action: str, target: str | None = None) -> EngineError:
        """Translate an elasticsearch-py exception into the engine's error for ``action``."""
        where = target or self.url
        if isinstance(exc, elasticsearch.SSLError):
            return EngineError(
                "SearchUnreachable",
                f"The TLS connection to Elasticsearch at {self.url} failed while trying to {action}: {exc.message}.",
                target=where,
                recommended_action="Pass the CA certificate that signed the server's certificate as the CA file.",
            )
        if isinstance(exc, _UNREACHABLE):
            return EngineError(
                "SearchUnreachable",
                f"Elasticsearch at {self.url} did not answer while trying to {action} "
                f"({type(exc).__name__}: {exc.message}).",
                target=where,
                recommended_action="Check that Elasticsearch is running, the URL and port are right, and no firewall blocks it.",
            )
        if isinstance(exc, (elasticsearch.AuthenticationException, elasticsearch.AuthorizationException)):
            return EngineError(
                "SearchCredentialsRefused",
                f"Elasticsearch at {self.url} refused the credentials (HTTP {exc.status_code}) while trying to {action}.",
                target=where,
                recommended_action="Check the Elasticsearch user name and password, and that the user has the needed privileges.",
            )
        if isinstance(exc, elasticsearch.UnsupportedProductError):
            return EngineError(
                "SearchOperationFailed",
                f"The server at {self.url} is not Elasticsearch (or not a supported version).",
                target=where,
                recommended_action="Point the engine at an Elasticsearch 8 cluster.",
            )
        if isinstance(exc, elasticsearch.ApiError):
            return EngineError(
                "SearchOperationFailed",
                f"Elasticsearch at {self.url} refused to {action} (HTTP {exc.status_code}, {_reason(exc)}).",
                target=where,
                recommended_action="Read the reason Elasticsearch gave, correct the cause, and run again.",
            )
        return EngineError(
            "SearchOperationFailed",
            f"Trying to {action} on Elasticsearch at {self.url} failed: {type(exc).__name__}: {exc}.",
            target=where,
        )

    def _call(self, action: str, func: Any, *args: Any, target: str | None = None, **kwargs: Any) -> Any:
        try:
            response = func(*args, **kwargs)
        except (elasticsearch.ApiError, elasticsearch.TransportError) as exc:
            raise self._error(exc, action, target) from None
        return response.body if hasattr(response, "body") else response

    # --- server ---------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """``GET /``: name, cluster and version of the server; raises SearchUnreachable if it does not answer."""
        return self._call("read the server information", self._es.info)

    def ping(self) -> None:
        """Check that the server answers (raises SearchUnreachable / SearchCredentialsRefused otherwise)."""
        self.info()

    def version(self) -> str:
        return str(self.info()["version"]["number"])

    # --- indices --------------------------------------------------------------------------------

    def ensure_index_template(
        self,
        name: str,
        index_patterns: Sequence[str],
        mappings: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        *,
        priority: int | None = None,
    ) -> None:
        """Create or replace the composable index template ``name`` (``PUT _index_template/name``)."""
        template: dict[str, Any] = {}
        if mappings:
            template["mappings"] = dict(mappings)
        if settings:
            template["settings"] = dict(settings)
        self._call(
            f"store the index template {name!r}",
            self._es.indices.put_index_template,
            name=name,
            index_patterns=list(index_patterns),
            template=template,
            priority=priority,
            target=f"index template {name} on {self.url}",
        )

    def index_exists(self, index: str) -> bool:
        return bool(self._call(f"check the index {index!r}", self._es.indices.exists, index=index))

    def ensure_index(
        self,
        name: str,
        mappings: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> bool:
        """Create the index when it is missing; return True when it was created now."""
        if self.index_exists(name):
            return False
        try:
            self._es.indices.create(
                index=name,
                mappings=dict(mappings) if mappings else None,
                settings=dict(settings) if settings else None,
            )
        except elasticsearch.BadRequestError as exc:
            if exc.error == "resource_already_exists_exception":  # created concurrently
                return False
            raise self._error(exc, f"create the index {name!r}", f"index {name} on {self.url}") from None
        except (elasticsearch.ApiError, elasticsearch.TransportError) as exc:
            raise self._error(exc, f"create the index {name!r}", f"index {name} on {self.url}") from None
        return True

    def count(self, index: str, query: dict[str, Any] | None = None) -> int:
        kwargs: dict[str, Any] = {"index": index}
        if query is not None:
            kwargs["query"] = query
        body = self._call(f"count the documents of {index!r}", self._es.count, **kwargs)
        return int(body["count"])

    def refresh(self, index: str) -> None:
        self._call(f"refresh {index!r}", self._es.indices.refresh, index=index)

    def delete_index(self, index: str, *, missing_ok: bool = True) -> bool:
        """Delete the index; return False when it did not exist (and ``missing_ok``)."""
        try:
            self._es.indices.delete(index=index)
        except elasticsearch.NotFoundError as exc:
            if missing_ok:
                return False
            raise self._error(exc, f"delete the index {index!r}", f"index {index} on {self.url}") from None
        except (elasticsearch.ApiError, elasticsearch.TransportError) as exc:
            raise self._error(exc, f"delete the index {index!r}", f"index {index} on {self.url}") from None
        return True

    # --- bulk loads -----------------------------------------------------------------------------

    @contextmanager
    def bulk_load(self, index: str) -> Iterator[None]:
        """``LOAD_SETTINGS`` on ``index`` for the time of the block; the index's own values afterwards.

        They are put back when the block ends, fails or is cancelled. If the process is killed inside
        the block, they stay in the index's ``_meta`` (``LOAD_MARK``) and the next ``bulk_load`` or
        ``end_interrupted_load`` of the index puts them back. When putting them back fails after the
        block failed (the server went away), the block's error is the one raised: the mark stays."""
        original = self._begin_load(index)
        try:
            yield
        except BaseException:
            with suppress(EngineError):  # the first error is the one to report; the mark puts it right later
                self._end_load(index, original)
            raise
        self._end_load(index, original)

    def end_interrupted_load(self, index: str) -> bool:
        """Put back the settings a killed load left on ``index``; True when there were some."""
        meta = self._index_meta(index)
        if LOAD_MARK not in meta:
            return False
        self._end_load(index, dict(meta[LOAD_MARK]))
        return True

    def index_settings(self, index: str, names: Iterable[str]) -> dict[str, Any]:
        """The values set on ``index`` for ``names`` (flat names; None: not set, the default applies)."""
        body = self._call(f"read the settings of {index!r}", self._es.indices.get_settings, index=index,
                          flat_settings=True)
        settings = body.get(index, {}).get("settings", {})
        return {name: settings.get(name) for name in names}

    def _index_meta(self, index: str) -> dict[str, Any]:
        body = self._call(f"read the mapping of {index!r}", self._es.indices.get_mapping, index=index)
        return dict(body.get(index, {}).get("mappings", {}).get("_meta") or {})

    def _begin_load(self, index: str) -> dict[str, Any]:
        meta = self._index_meta(index)
        if LOAD_MARK in meta:  # an earlier load was killed: the values it kept are the index's own
            original = dict(meta[LOAD_MARK])
        else:
            original = self.index_settings(index, LOAD_SETTINGS)
            self._call(f"mark {index!r} as being loaded", self._es.indices.put_mapping, index=index,
                       meta={**meta, LOAD_MARK: original})
        self._call(f"prepare {index!r} for a bulk load", self._es.indices.put_settings, index=index,
                   settings=LOAD_SETTINGS)
        return original

    def _end_load(self, index: str, original: Mapping[str, Any]) -> None:
        self._call(f"put back the settings of {index!r} after a bulk load", self._es.indices.put_settings,
                   index=index, settings={name: original.get(name) for name in LOAD_SETTINGS})
        meta = self._index_meta(index)
        meta.pop(LOAD_MARK, None)
        self._call(f"unmark {index!r} after a bulk load", self._es.indices.put_mapping, index=index, meta=meta)

    def send_documents(
        self,
        index: str,
        docs: Sequence[tuple[str, str]],
        *,
        max_request_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        stop: threading.Event | None = None,
    ) -> list[BulkRefusal]:
        """Index ``docs`` (id, JSON text) into ``index``, in bulk requests of at most ``max_request_bytes``.

        Returns the documents the server refused, with its reason (a mapping conflict...). Documents
        refused with 429 (a full write queue) and whole requests answered 429 or lost to a connection
        failure are resent after ``initial_backoff * 2**n`` seconds, up to ``max_retries`` times;
        then ``SearchUnreachable`` (connection) is raised naming the URL, or the 429s are returned as
        refused. Resending is harmless: every document has its id. When the call returns, what was
        not refused is durable (in the translog). ``stop`` set cuts a backoff short (``Cancelled``)."""
        refused: list[BulkRefusal] = []
        for part in _request_parts(docs, max_request_bytes):
            pending = part
            attempt = 0
            while pending:
                answer = self._bulk_request(index, pending, attempt, stop)
                if answer is None:  # a connection failure or a 429 of the whole request: resend it all
                    attempt += 1
                    continue
                if not answer.get("errors"):
                    break
                again: set[str] = set()
                for item in answer.get("items", ()):
                    op = next(iter(item.values()))
                    error = op.get("error")
                    if not error:
                        continue
                    if op.get("status") == 429 and attempt < self.max_retries:
                        again.add(op.get("_id"))
                        continue
                    reason = (error.get("reason") if isinstance(error, Mapping) else str(error)) or str(op.get("status"))
                    refused.append(BulkRefusal(str(op.get("_id")), op.get("status"), reason))
                if not again:
                    break
                pending = [doc for doc in pending if doc[0] in again]
                self._pause(attempt, stop)
                attempt += 1
        return refused

    def _bulk_request(self, index: str, docs: Sequence[tuple[str, str]], attempt: int,
                      stop: threading.Event | None) -> dict[str, Any] | None:
        """One bulk request: its (filtered) answer, or None after a pause when it is to be sent again."""
        try:
            # bytes are sent as they are (the client's NdjsonSerializer), whatever its annotation says
            return dict(self._es.bulk(index=index, operations=bulk_index_body(docs),  # type: ignore[arg-type]
                                      filter_path=BULK_ANSWER_FIELDS).body)
        except _UNREACHABLE as exc:
            if attempt >= self.max_retries or isinstance(exc, elasticsearch.SSLError):
                raise self._error(exc, f"index documents in bulk (after {attempt + 1} attempts)",
                                  f"index {index} on {self.url}") from None
        except elasticsearch.ApiError as exc:
            if exc.status_code != 429 or attempt >= self.max_retries:
                raise self._error(exc, "index documents in bulk", f"index {index} on {self.url}") from None
        except elasticsearch.TransportError as exc:
            raise self._error(exc, "index documents in bulk", f"index {index} on {self.url}") from None
        self._pause(attempt, stop)
        return None

    def _pause(self, attempt: int, stop: threading.Event | None) -> None:
        seconds = min(DEFAULT_MAX_BACKOFF, self.initial_backoff * 2**attempt)
        if stop is None:
            time.sleep(seconds)
        elif stop.wait(seconds):
            raise Cancelled(what="indexing documents")

    # --- bulk -----------------------------------------------------------------------------------

    def bulk_index(
        self,
        actions: Iterable[dict[str, Any]],
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
        max_retries: int | None = None,
        initial_backoff: float | None = None,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
    ) -> Iterator[tuple[bool, dict[str, Any]]]:
        """Send ``actions`` (elasticsearch-py bulk actions: ``{"_index": ..., "_id": ..., **doc}``) in chunks.

        Yields ``(ok, item)`` for every action, in order per chunk: ``item`` is the bulk response item
        (``{"index": {"_id": ..., "status": ..., "error": {...}}}``), so each per-document failure (a
        mapping conflict, a rejected document) is yielded with ``ok=False`` and its reason; none is
        swallowed and none raises.

        Chunks: at most ``chunk_size`` actions and ``max_chunk_bytes`` bytes per request (defaults
        1,000 actions / 10 MiB; see :data:`DEFAULT_CHUNK_SIZE` and :data:`DEFAULT_MAX_CHUNK_BYTES` for
        why). Memory is bounded by one chunk: actions are read lazily.

        Retries: documents rejected with 429 (the server's write queue is full) and whole requests
        answered 429 are resent by ``streaming_bulk`` after ``initial_backoff * 2**n`` seconds (at most
        ``max_backoff``), up to ``max_retries`` times. When the connection fails (refused, reset, timed
        out), the whole chunk is resent after the same backoff, up to ``max_retries`` times, then
        ``SearchUnreachable`` is raised naming the URL. Resending a chunk is idempotent only for actions
        with an explicit ``_id``: give every action one. A request the server refuses outright (not
        429) raises ``SearchOperationFailed``.
        """
        max_retries = self.max_retries if max_retries is None else max_retries
        initial_backoff = self.initial_backoff if initial_backoff is None else initial_backoff
        if chunk_size < 1 or max_chunk_bytes < 1 or max_retries < 0:
            raise ValueError("chunk_size and max_chunk_bytes must be positive, max_retries not negative")
        for batch in _batched(actions, chunk_size):
            attempt = 0
            while True:
                try:
                    # one chunk's results are collected before they are yielded, so a chunk resent after a
                    # connection failure never reports a document twice
                    results = list(
                        helpers.streaming_bulk(
                            self._es,
                            batch,
                            chunk_size=chunk_size,
                            max_chunk_bytes=max_chunk_bytes,
                            raise_on_error=False,
                            raise_on_exception=True,
                            max_retries=max_retries,
                            initial_backoff=initial_backoff,
                            max_backoff=max_backoff,
                            yield_ok=True,
                        )
                    )
                    break
                except _UNREACHABLE as exc:
                    if attempt >= max_retries or isinstance(exc, elasticsearch.SSLError):
                        error = self._error(exc, f"index documents in bulk (after {attempt + 1} attempts)")
                        raise error from None
                    time.sleep(min(max_backoff, initial_backoff * 2**attempt))
                    attempt += 1
                except (elasticsearch.ApiError, elasticsearch.TransportError) as exc:
                    raise self._error(exc, "index documents in bulk") from None
            yield from results

    # --- snapshots (``_snapshot`` endpoints only) -----------------------------------------------

    def get_repository(self, name: str) -> dict[str, Any] | None:
        """The repository's definition (``{"type": ..., "settings": {...}}``), or None when it is not registered."""
        try:
            body = self._es.snapshot.get_repository(name=name).body
        except elasticsearch.NotFoundError:
            return None
        except (elasticsearch.ApiError, elasticsearch.TransportError) as exc:
            raise self._error(exc, f"read the snapshot repository {name!r}") from None
        return body.get(name)

    def ensure_fs_repository(self, name: str, location: str) -> None:
        """Register the shared-file-system repository ``name`` at ``location`` when it is missing.

        ``location`` is a folder on the Elasticsearch server's own disk and must lie under one of the
        folders in its ``path.repo`` setting.
        """
        target = f"snapshot repository {name} on {self.url}"
        existing = self.get_repository(name)
        if existing is not None:
            current = (existing.get("settings") or {}).get("location")
            if existing.get("type") == "fs" and current == location:
                return
            raise EngineError(
                "SnapshotRepositoryInvalid",
                f"The snapshot repository {name!r} on {self.url} is already registered as "
                f"{existing.get('type')} at {current!r}, not fs at {location!r}.",
                target=target,
                recommended_action="Use another repository name, or remove the existing registration first.",
            )
        try:
            self._es.snapshot.create_repository(
                name=name, repository={"type": "fs", "settings": {"location": location}}
            )
        except elasticsearch.ApiError as exc:
            reason = _reason(exc)
            if "path.repo" in reason or "path.repo" in str(exc.body):
                raise EngineError(
                    "SnapshotRepositoryInvalid",
                    f"Elasticsearch at {self.url} cannot use {location!r} for the snapshot repository {name!r} "
                    "because the location is not under its path.repo setting.",
                    target=target,
                    recommended_action=f"Add {location} (or a parent folder) to path.repo in elasticsearch.yml "
                    "on every node, restart Elasticsearch, and run again.",
                ) from None
            if exc.error == "repository_exception" or exc.error == "repository_verification_exception":
                raise EngineError(
                    "SnapshotRepositoryInvalid",
                    f"Elasticsearch at {self.url} could not register {location!r} as the snapshot repository "
                    f"{name!r} ({reason}).",
                    target=target,
                    recommended_action="Make the location exist and be writable by the Elasticsearch service "
                    "account on every node, and run again.",
                ) from None
            raise self._error(exc, f"register the snapshot repository {name!r}", target) from None
        except elasticsearch.TransportError as exc:
            raise self._error(exc, f"register the snapshot repository {name!r}", target) from None

    def create_snapshot(
        self,
        repository: str,
        snapshot: str,
        indices: Sequence[str],
        *,
        wait: bool = True,
        timeout: float = DEFAULT_SNAPSHOT_TIMEOUT,
    ) -> dict[str, Any]:
        """Snapshot ``indices`` (no global state). With ``wait``, returns the snapshot's description and
        raises ``SearchOperationFailed`` unless its state is SUCCESS; without, returns ``{"accepted": True}``.
        """
        target = f"snapshot {repository}/{snapshot} on {self.url}"
        body = self._call(
            f"create the snapshot {snapshot!r} in {repository!r}",
            self._es.options(request_timeout=timeout).snapshot.create,
            repository=repository,
            snapshot=snapshot,
            indices=",".join(indices),
            include_global_state=False,
            ignore_unavailable=False,
            wait_for_completion=wait,
            target=target,
        )
        if not wait:
            return dict(body)
        info = dict(body.get("snapshot") or {})
        if info.get("state") != "SUCCESS":
            failures = "; ".join(
                f"{f.get('index')}[{f.get('shard_id')}]: {f.get('reason')}"
                for f in info.get("failures") or []
            )
            raise EngineError(
                "SearchOperationFailed",
                f"The snapshot {snapshot!r} in {repository!r} on {self.url} ended in state "
                f"{info.get('state')}{': ' + failures if failures else ''}.",
                target=target,
                recommended_action="Read the shard failures, fix their cause (disk space, unassigned shards), "
                "delete the snapshot and take it again.",
            )
        return info

    def list_snapshots(self, repository: str) -> list[dict[str, Any]]:
        body = self._call(
            f"list the snapshots in {repository!r}",
            self._es.snapshot.get,
            repository=repository,
            snapshot="_all",
            target=f"snapshot repository {repository} on {self.url}",
        )
        return list(body.get("snapshots") or [])

    def get_snapshot(self, repository: str, snapshot: str) -> dict[str, Any] | None:
        """The snapshot's description (``state``, ``indices``, ``shards``...), or None when it does not exist."""
        try:
            body = self._es.snapshot.get(repository=repository, snapshot=snapshot).body
        except elasticsearch.NotFoundError as exc:
            if exc.error == "snapshot_missing_exception":
                return None
            raise self._error(exc, f"read the snapshot {snapshot!r} in {repository!r}") from None
        except (elasticsearch.ApiError, elasticsearch.TransportError) as exc:
            raise self._error(exc, f"read the snapshot {snapshot!r} in {repository!r}") from None
        snapshots = body.get("snapshots") or []
        return dict(snapshots[0]) if snapshots else None

    def restore_snapshot(
        self,
        repository: str,
        snapshot: str,
        indices: Sequence[str],
        *,
        wait: bool = True,
        timeout: float = DEFAULT_SNAPSHOT_TIMEOUT,
    ) -> dict[str, Any]:
        """Restore ``indices`` from the snapshot (no global state). The indices must not exist open.

        With ``wait``, returns the restore summary and raises ``SearchOperationFailed`` if a shard failed.
        """
        target = f"snapshot {repository}/{snapshot} on {self.url}"
        body = self._call(
            f"restore {', '.join(indices)} from the snapshot {snapshot!r} in {repository!r}",
            self._es.options(request_timeout=timeout).snapshot.restore,
            repository=repository,
            snapshot=snapshot,
            indices=",".join(indices),
            include_global_state=False,
            wait_for_completion=wait,
            target=target,
        )
        if not wait:
            return dict(body)
        info = dict(body.get("snapshot") or {})
        shards = info.get("shards") or {}
        if shards.get("failed"):
            raise EngineError(
                "SearchOperationFailed",
                f"Restoring the snapshot {snapshot!r} from {repository!r} on {self.url} failed for "
                f"{shards['failed']} of {shards.get('total')} shards.",
                target=target,
                recommended_action="Read the Elasticsearch log for the shard failures, delete the partly restored "
                "indices and restore again.",
            )
        return info

    def delete_snapshot(self, repository: str, snapshot: str, *, missing_ok: bool = True) -> bool:
        """Delete the snapshot; return False when it did not exist (and ``missing_ok``)."""
        try:
            self._es.snapshot.delete(repository=repository, snapshot=snapshot)
        except elasticsearch.NotFoundError as exc:
            if missing_ok and exc.error == "snapshot_missing_exception":
                return False
            raise self._error(exc, f"delete the snapshot {snapshot!r} in {repository!r}") from None
        except (elasticsearch.ApiError, elasticsearch.TransportError) as exc:
            raise self._error(exc, f"delete the snapshot {snapshot!r} in {repository!r}") from None
        return True
