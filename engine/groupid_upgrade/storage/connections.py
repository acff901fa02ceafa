"""The one place each kind of server connection is built from the answer file's settings.

Databases are opened by ``source.installation.open_database`` (the source read-only, the target through
``target.writer.TargetInstallation``); Elasticsearch and the directories are built here, so TLS,
credentials, warnings and errors follow the same rules wherever a connection is made. The clients
themselves (``storage.search``, ``storage.directory``) are imported on first use: they are heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import EngineError
from ..model.settings import DirectorySettings, ElasticsearchSettings
from ..reporting import Reporter

if TYPE_CHECKING:
    from .directory import DirectoryClient
    from .search import SearchClient

DEFAULT_INDEX_PREFIX = "groupid11"


def search_client(settings: ElasticsearchSettings, *, request_timeout: float = 30,
                  max_retries: int | None = None) -> SearchClient:
    """An Elasticsearch client of the answer file's settings (its retries unless told otherwise)."""
    from .search import SearchClient

    return SearchClient(settings.url, settings.user_name, settings.password,
                        str(settings.ca_file) if settings.ca_file else None, request_timeout=request_timeout,
                        max_retries=settings.max_retries if max_retries is None else max_retries,
                        initial_backoff=settings.initial_backoff_seconds)


def index_prefix(settings: ElasticsearchSettings | None) -> str:
    return settings.index_prefix if settings is not None else DEFAULT_INDEX_PREFIX


def directory_client(domain: str, settings: DirectorySettings, reporter: Reporter | None = None, *,
                     anonymous: bool = False) -> DirectoryClient:
    """A client of one domain's directory.

    A credential is required, except with ``anonymous=True``, which only reading rootDSE asks for (AD answers
    rootDSE before any bind; the forest facts of a plan need nothing else)."""
    from .directory import DirectoryClient

    if not settings.verify_certificate and reporter is not None:  # the same warning on every connection
        reporter.log("warning", f"Certificate verification is switched off for {domain} ({settings.url}); "
                                "anyone on the network path can read the service account's password.")
    credential = settings.credential
    if credential is None and not anonymous:
        raise EngineError("DirectoryNotConfigured", f"The directory {domain} has no credential in the answer file.",
                          target=f"directories.{domain}.credential",
                          recommended_action="Add a credential (userName and password) for the domain.")
    return DirectoryClient(settings.url, user=credential.user_name if credential else "",
                           password=credential.password if credential else None,
                           ca_file=str(settings.ca_file) if settings.ca_file else None, start_tls=settings.start_tls,
                           verify=settings.verify_certificate)
