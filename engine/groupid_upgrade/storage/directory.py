"""The engine's one way to talk to Active Directory: LDAPS or LDAP+StartTLS through ldap3.

Certificates are verified by default (CERT_REQUIRED, against ``ca_file`` or the system's CAs, and the
host name or IP address in the URL must be in the certificate); ``verify=False`` must be asked for.
Errors become :class:`~groupid_upgrade.errors.EngineError` with one sentence naming the server URL:
``DirectoryUnreachable``, ``DirectoryBindRefused``, ``DirectoryCertificateInvalid``,
``DirectoryOperationFailed``, and for :meth:`DirectoryClient.replace_attributes`
``GroupChangedConcurrently`` / ``GroupNotFound``. No message ever contains the password.

Entries are returned with raw values (``bytes``) so binary ``extensionData`` round-trips byte for
byte; searches are paged (RFC 2696) so memory is bounded by the page.
"""

from __future__ import annotations

import contextlib
import hashlib
import select
import ssl
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

import ldap3
from ldap3.core import exceptions as ldap_exc
from pydantic import SecretStr

from ..errors import EngineError
from . import ldap_wire

GROUPID_ATTRIBUTES: tuple[str, ...] = (
    "extensionData",
    "extensionAttribute12",
    "extensionAttribute13",
    "extensionAttribute14",
    "extensionAttribute15",
)

# The seed's ldifde filter, corrected (rules.md R17): groups carrying any GroupID attribute.
SMART_GROUP_FILTER = (
    "(&(objectClass=group)(objectCategory=group)(|(extensionData=*)(extensionAttribute15=*)"
    "(extensionAttribute14=*)(extensionAttribute13=*)(extensionAttribute12=*)))"
)

ROOT_DSE_ATTRIBUTES = (
    "rootDomainNamingContext",
    "defaultNamingContext",
    "configurationNamingContext",
    "schemaNamingContext",
    "dnsHostName",
)

Scope = Literal["base", "one", "subtree"]
_SCOPES: dict[str, str] = {"base": ldap3.BASE, "one": ldap3.LEVEL, "subtree": ldap3.SUBTREE}
_PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"

# LDAP result codes (RFC 4511)
_SUCCESS = 0
_SIZE_LIMIT_EXCEEDED = 4
_STRONGER_AUTH_REQUIRED = 8
_NO_SUCH_ATTRIBUTE = 16
_CONSTRAINT_VIOLATION = 19
_ATTRIBUTE_OR_VALUE_EXISTS = 20
_NO_SUCH_OBJECT = 32
_INVALID_CREDENTIALS = 49
_INSUFFICIENT_ACCESS = 50
_BUSY = 51
_UNAVAILABLE = 52
_CONFLICT_CODES = frozenset({_NO_SUCH_ATTRIBUTE, _CONSTRAINT_VIOLATION, _ATTRIBUTE_OR_VALUE_EXISTS})

_CERT_MARKERS = (
    "certificate_verify_failed",
    "certificate verify failed",
    "sslcertverificationerror",
    "doesn't match any name",
    "hostname mismatch",
    "ip address mismatch",
    "self-signed certificate",
    "self signed certificate",
    "unable to get local issuer",
    "certificate has expired",
)

Entry = dict[str, Any]  # {"dn": str, "attributes": {name: [bytes, ...]}}


def _exception_text(exc: BaseException) -> str:
    """All text of an ldap3 exception and what it wraps (for classification only, never shown raw)."""
    parts: list[str] = []
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        item = stack.pop()
        if id(item) in seen or item is None:
            continue
        seen.add(id(item))
        parts.append(type(item).__name__)
        if isinstance(item, BaseException):
            parts.append(str(item))
            stack.extend([item.__cause__, item.__context__, *item.args])
        elif isinstance(item, list | tuple):
            stack.extend(item)
        else:
            parts.append(str(item))
    return " ".join(parts).lower()


def _is_certificate_problem(exc: BaseException) -> bool:
    if isinstance(exc, ssl.SSLCertVerificationError | ldap_exc.LDAPCertificateError):
        return True
    text = _exception_text(exc)
    return any(marker in text for marker in _CERT_MARKERS)


def _short_reason(exc: BaseException) -> str:
    """A short, password-free reason for a TLS/socket failure."""
    verify_message = getattr(exc, "verify_message", None)
    if isinstance(verify_message, str) and verify_message:
        return verify_message
    text = _exception_text(exc)
    for marker, reason in (
        ("doesn't match any name", "the certificate does not name this host"),
        ("hostname mismatch", "the certificate does not name this host"),
        ("ip address mismatch", "the certificate does not name this address"),
        ("unable to get local issuer", "the certificate was not issued by a trusted CA"),
        ("self-signed certificate", "the certificate chain is not trusted"),
        ("self signed certificate", "the certificate chain is not trusted"),
        ("certificate has expired", "the certificate has expired"),
        ("connection refused", "connection refused"),
        ("timed out", "connection timed out"),
        ("no route to host", "no route to host"),
        ("name or service not known", "the host name does not resolve"),
    ):
        if marker in text:
            return reason
    return "certificate verification failed" if _is_certificate_problem(exc) else type(exc).__name__


class DirectoryClient:
    """A connection to one domain controller, bound with a simple bind over TLS."""

    def __init__(
        self,
        url: str,
        *,
        user: str,
        password: SecretStr | None,
        ca_file: str | None = None,
        start_tls: bool = False,
        verify: bool = True,
        connect_timeout: float = 10,
        receive_timeout: float = 120,
    ) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise EngineError(
                "DirectoryOperationFailed",
                f"The directory URL {url} is not an ldaps:// or ldap:// URL with a host.",
                target=url,
                recommended_action="Give the domain controller as ldaps://host[:636] or ldap://host[:389] with StartTLS.",
            )
        if scheme == "ldaps" and start_tls:
            raise EngineError(
                "DirectoryOperationFailed",
                f"StartTLS cannot be used on the LDAPS URL {url}, which is already encrypted.",
                target=url,
                recommended_action="Use ldap://host:389 with StartTLS, or ldaps://host:636 without it.",
            )
        self.url = url
        self.host = parts.hostname
        self.use_ssl = scheme == "ldaps"
        self.port = parts.port or (636 if self.use_ssl else 389)
        self.user = user
        self._password = password
        self.ca_file = ca_file
        self.start_tls = start_tls
        self.verify = verify
        self.connect_timeout = connect_timeout
        self.receive_timeout = receive_timeout
        self._conn: ldap3.Connection | None = None
        self._root_dse: dict[str, str] | None = None

    def __repr__(self) -> str:  # never shows the password
        return f"DirectoryClient({self.url!r}, user={self.user!r}, start_tls={self.start_tls}, verify={self.verify})"

    # --- connection ----------------------------------------------------------------------------

    def _error(self, error_id: str, sentence: str, action: str | None = None) -> EngineError:
        return EngineError(error_id, sentence, target=self.url, recommended_action=action)

    def _tls(self) -> ldap3.Tls:
        if self.ca_file:
            from ..safety.reading import CA_FILE_BYTES, check_readable

            check_readable(self.ca_file, what="CA file", limit=CA_FILE_BYTES, error_id="DirectoryCertificateInvalid",
                           target=self.url)
        try:
            return ldap3.Tls(
                validate=ssl.CERT_REQUIRED if self.verify else ssl.CERT_NONE,
                ca_certs_file=self.ca_file,
            )
        except ldap_exc.LDAPSSLConfigurationError as exc:
            raise self._error(
                "DirectoryCertificateInvalid",
                f"The CA file {self.ca_file} for {self.url} cannot be used ({exc}).",
                "Give the path of a readable PEM file holding the CA that issued the server's certificate.",
            ) from None

    def connect(self) -> DirectoryClient:
        """Open the connection, establish TLS and bind; map failures to the directory errors."""
        if self._conn is not None:
            return self
        server = ldap3.Server(
            self.host,
            port=self.port,
            use_ssl=self.use_ssl,
            tls=self._tls(),
            get_info=ldap3.NONE,
            connect_timeout=self.connect_timeout,
        )
        conn = ldap3.Connection(
            server,
            user=self.user,
            password=self._password.get_secret_value() if self._password is not None else None,
            authentication=ldap3.SIMPLE if self._password is not None else ldap3.ANONYMOUS,
            receive_timeout=self.receive_timeout,
            raise_exceptions=False,
            auto_referrals=False,
            return_empty_attributes=False,
            read_only=False,
        )
        try:
            try:
                conn.open()
                if self.start_tls:
                    conn.start_tls()
            except (
                ldap_exc.LDAPStartTLSError,
                ldap_exc.LDAPSocketOpenError,
                ldap_exc.LDAPCertificateError,
            ) as exc:
                if _is_certificate_problem(exc):
                    raise self._error(
                        "DirectoryCertificateInvalid",
                        f"The certificate of {self.url} was not accepted: {_short_reason(exc)}.",
                        "Give the CA that issued the domain controller's certificate (ca_file), "
                        "and use the host name or address the certificate names.",
                    ) from None
                if isinstance(exc, ldap_exc.LDAPStartTLSError):
                    raise self._error(
                        "DirectoryOperationFailed",
                        f"StartTLS with {self.url} failed: {_short_reason(exc)}.",
                        "Use ldaps:// or enable TLS on the domain controller.",
                    ) from None
                raise self._unreachable(exc) from None
            except ldap_exc.LDAPCommunicationError as exc:
                raise self._unreachable(exc) from None
            try:
                bound = conn.bind()
            except ldap_exc.LDAPCommunicationError as exc:
                raise self._unreachable(exc) from None
            if not bound:
                code = conn.result.get("result") if conn.result else None
                if code == _INVALID_CREDENTIALS:
                    raise self._error(
                        "DirectoryBindRefused",
                        f"{self.url} refused the bind of {self.user}: the user name or password is wrong.",
                        "Check the service account's user name (a DN or user@domain) and password.",
                    )
                if code == _STRONGER_AUTH_REQUIRED:
                    raise self._error(
                        "DirectoryBindRefused",
                        f"{self.url} refused the bind of {self.user} without TLS.",
                        "Use ldaps:// or StartTLS.",
                    )
                raise self._error(
                    "DirectoryBindRefused",
                    f"{self.url} refused the bind of {self.user} ({self._result_text(conn)}).",
                    "Check the service account and that it may log on to the domain controller.",
                )
        except BaseException:
            self._close(conn)
            raise
        self._conn = conn
        return self

    def _unreachable(self, exc: BaseException) -> EngineError:
        return self._error(
            "DirectoryUnreachable",
            f"The domain controller {self.url} cannot be reached: {_short_reason(exc)}.",
            "Check the host name, the port and that the domain controller answers LDAP from this machine.",
        )

    @staticmethod
    def _result_text(conn: ldap3.Connection) -> str:
        result = conn.result or {}
        return f"{result.get('description', 'error')} {result.get('result', '')}".strip()

    @staticmethod
    def _close(conn: ldap3.Connection) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection: nothing to report
            conn.unbind()

    def close(self) -> None:
        if self._conn is not None:
            self._close(self._conn)
            self._conn = None

    @property
    def is_connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def is_alive(self) -> bool:
        """One cheap read (the rootDSE, no attributes) on the open connection; False when it fails."""
        if not self.is_connected:
            return False
        assert self._conn is not None
        try:
            return bool(self._conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["1.1"]))
        except ldap_exc.LDAPException:
            return False

    def is_quiet(self) -> bool:
        """The open connection has nothing waiting to be read, checked without a round trip: an idle LDAP
        connection is sent nothing, so anything readable is the server closing it (end of stream, a TLS
        close, a notice of disconnection) or a socket gone bad; False then."""
        if not self.is_connected:
            return False
        assert self._conn is not None
        sock = getattr(self._conn, "socket", None)
        if sock is None:
            return False
        try:
            if isinstance(sock, ssl.SSLSocket) and sock.pending():
                return False
            readable, _, failed = select.select([sock], [], [sock], 0)
        except (OSError, ValueError):  # closed under us (fileno -1) or otherwise unusable
            return False
        return not readable and not failed

    def settings_digest(self) -> str:
        """Which connections may stand in for each other (directory_pool); the password enters only hashed."""
        password = self._password.get_secret_value() if self._password is not None else ""
        parts = [self.url, self.user, password, self.ca_file or "", str(self.start_tls), str(self.verify),
                 str(self.connect_timeout), str(self.receive_timeout)]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def __enter__(self) -> DirectoryClient:
        return self.connect()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def connection(self) -> ldap3.Connection:
        if self._conn is None:
            self.connect()
        assert self._conn is not None
        return self._conn

    def _search(self, what: str, *, by_dn: tuple[str, Sequence[str]] | None = None,
                **kwargs: Any) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
        """One search (``conn.search(**kwargs)``, or the read of ``by_dn`` = (DN, attributes) alone);
        its result code, entries and result."""
        conn = self.connection
        try:
            if by_dn is not None:
                ldap_wire.read_base_object(conn, *by_dn)
            else:
                conn.search(**kwargs)
        except ldap_exc.LDAPCommunicationError as exc:
            self.close()
            raise self._unreachable(exc) from None
        except ldap_exc.LDAPException as exc:
            raise self._error(
                "DirectoryOperationFailed", f"{what} on {self.url} failed: {type(exc).__name__}."
            ) from None
        result = conn.result or {}
        return int(result.get("result", -1)), list(conn.response or []), result

    # --- reads ---------------------------------------------------------------------------------

    def root_dse(self) -> dict[str, str]:
        """rootDomainNamingContext, defaultNamingContext, configurationNamingContext,
        schemaNamingContext and dnsHostName of the server (first value of each)."""
        if self._root_dse is None:
            code, response, _ = self._search(
                "Reading the rootDSE",
                search_base="",
                search_filter="(objectClass=*)",
                search_scope=ldap3.BASE,
                attributes=list(ROOT_DSE_ATTRIBUTES),
            )
            entries = [e for e in response if e.get("type") == "searchResEntry"]
            if code != _SUCCESS or not entries:
                raise self._error(
                    "DirectoryOperationFailed", f"Reading the rootDSE of {self.url} failed ({code})."
                )
            raw = entries[0].get("raw_attributes", {})
            lowered = {k.lower(): v for k, v in raw.items()}
            dse: dict[str, str] = {}
            for name in ROOT_DSE_ATTRIBUTES:
                values = lowered.get(name.lower()) or []
                if values:
                    dse[name] = values[0].decode("utf-8")
            self._root_dse = dse
        return dict(self._root_dse)

    def paged_search(
        self,
        base: str,
        ldap_filter: str,
        attributes: Sequence[str],
        *,
        scope: Scope = "subtree",
        page_size: int = 500,
    ) -> Iterator[Entry]:
        """Entries as ``{"dn": str, "attributes": {name: [bytes, ...]}}``, one page in memory at a time.

        Attributes an entry does not have are left out; search references are skipped.
        """
        if scope not in _SCOPES:
            raise ValueError(f"scope must be one of {sorted(_SCOPES)}")
        cookie: bytes | None = None
        while True:
            code, response, result = self._search(
                f"Searching {base}",
                search_base=base,
                search_filter=ldap_filter,
                search_scope=_SCOPES[scope],
                attributes=list(attributes) or [ldap3.NO_ATTRIBUTES],
                paged_size=page_size,
                paged_cookie=cookie,
            )
            if code == _NO_SUCH_OBJECT:
                raise self._error(
                    "DirectoryOperationFailed",
                    f"The search base {base} does not exist on {self.url}.",
                    "Check the container's distinguished name.",
                )
            if code not in (_SUCCESS, _SIZE_LIMIT_EXCEEDED):
                raise self._error(
                    "DirectoryOperationFailed",
                    f"Searching {base} on {self.url} failed ({self._describe(result)}).",
                )
            for item in response:
                if item.get("type") != "searchResEntry":
                    continue
                attrs = {
                    name: [bytes(v) for v in values]
                    for name, values in (item.get("raw_attributes") or {}).items()
                    if values
                }
                yield {"dn": item["dn"], "attributes": attrs}
            del response
            controls = result.get("controls") or {}
            cookie = (controls.get(_PAGED_RESULTS_OID) or {}).get("value", {}).get("cookie")
            if not cookie:
                return

    def read_entry(self, dn: str, attributes: Sequence[str]) -> Entry | None:
        """One entry by DN with raw values, or None when it does not exist."""
        code, response, result = self._search(f"Reading {dn}", by_dn=(dn, list(attributes) or [ldap3.NO_ATTRIBUTES]))
        if code == _NO_SUCH_OBJECT:
            return None
        if code != _SUCCESS:
            raise self._error(
                "DirectoryOperationFailed", f"Reading {dn} on {self.url} failed ({self._describe(result)})."
            )
        for item in response:
            if item.get("type") == "searchResEntry":
                attrs = {
                    n: [bytes(v) for v in vs] for n, vs in (item.get("raw_attributes") or {}).items() if vs
                }
                return {"dn": item["dn"], "attributes": attrs}
        return None

    def can_read_configuration_partition(self) -> bool:
        """True when the bound account can read the forest's configuration partition
        (its root and the Partitions container), as the forest-wide seed requires."""
        config = self.root_dse().get("configurationNamingContext")
        if not config:
            return False
        for base in (config, f"CN=Partitions,{config}"):
            code, response, _ = self._search(
                f"Reading {base}",
                search_base=base,
                search_filter="(objectClass=*)",
                search_scope=ldap3.BASE,
                attributes=["objectClass"],
            )
            if code in (_NO_SUCH_OBJECT, _INSUFFICIENT_ACCESS):
                return False
            if code != _SUCCESS:
                raise self._error(
                    "DirectoryOperationFailed", f"Reading {base} on {self.url} failed ({code})."
                )
            if not any(e.get("type") == "searchResEntry" for e in response):
                return False
        return True

    # --- writes --------------------------------------------------------------------------------

    @staticmethod
    def _describe(result: Mapping[str, Any]) -> str:
        description = result.get("description") or "error"
        return f"{description}, code {result.get('result')}"

    def replace_attributes(
        self,
        dn: str,
        new_values: Mapping[str, Sequence[bytes]],
        expected: Mapping[str, Sequence[bytes]],
        *,
        reread: bool = True,
    ) -> bool:
        """Set the attributes in ``new_values`` on ``dn`` only if they still hold ``expected``.

        Every attribute named in either mapping is compared. The entry is read and compared byte for
        byte first; then ONE modify deletes exactly the expected values and adds the new ones, so the
        server itself rejects the change if an expected value was changed or removed meanwhile (or a
        single-valued attribute expected empty was set). Either failure raises
        ``GroupChangedConcurrently`` and nothing is changed. Returns False when there was nothing to
        change. An empty list means "absent".

        ``reread=False`` skips the first read when ``expected`` was read from the server in the same
        step (a paged search): the modify alone then detects the change, since deleting a value that is
        gone, or adding to a single-valued attribute that was set meanwhile, is refused by the server.
        """
        names = list(dict.fromkeys([*expected, *new_values]))
        if reread:
            current = self.read_entry(dn, names)
            if current is None:
                raise self._error("GroupNotFound", f"The group {dn} does not exist on {self.url}.")
            have = {k.lower(): v for k, v in current["attributes"].items()}
            for name in names:
                if sorted(have.get(name.lower(), [])) != sorted(bytes(v) for v in expected.get(name, [])):
                    raise self._changed(dn, name)
        changes: dict[str, list[tuple[str, list[bytes]]]] = {}
        for name in names:
            old = [bytes(v) for v in expected.get(name, [])]
            new = [bytes(v) for v in new_values.get(name, old)]
            if sorted(old) == sorted(new):
                continue
            ops: list[tuple[str, list[bytes]]] = []
            if old:
                ops.append((ldap3.MODIFY_DELETE, old))
            if new:
                ops.append((ldap3.MODIFY_ADD, new))
            changes[name] = ops
        if not changes:
            return False
        conn = self.connection
        try:
            ldap_wire.modify(conn, dn, changes)
        except ldap_exc.LDAPCommunicationError as exc:
            self.close()
            raise self._unreachable(exc) from None
        except ldap_exc.LDAPException as exc:
            raise self._error(
                "DirectoryOperationFailed", f"Changing {dn} on {self.url} failed: {type(exc).__name__}."
            ) from None
        result = conn.result or {}
        code = result.get("result")
        if code == _SUCCESS:
            return True
        if code in _CONFLICT_CODES:
            raise self._changed(dn, None)
        if code == _NO_SUCH_OBJECT:
            raise self._error("GroupNotFound", f"The group {dn} does not exist on {self.url}.")
        if code in (_BUSY, _UNAVAILABLE):
            raise self._error(
                "DirectoryUnreachable", f"{self.url} is busy or unavailable ({self._describe(result)})."
            )
        raise self._error(
            "DirectoryOperationFailed", f"Changing {dn} on {self.url} failed ({self._describe(result)})."
        )

    def _changed(self, dn: str, attribute: str | None) -> EngineError:
        what = f"its {attribute}" if attribute else "its GroupID attributes"
        return EngineError(
            "GroupChangedConcurrently",
            f"The group {dn} was changed on {self.url} since it was read ({what} differ); nothing was written.",
            target=dn,
            recommended_action="Run the upgrade of this group again; it reads the current definition first.",
        )
