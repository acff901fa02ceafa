"""The credential checks of R5, R6 and R7: the PFX certificate offline, and a token online.

An Entra ID identity store (R5), an Office 365 messaging provider (R6) and every Synchronize job
with Office 365 messaging (R7) carry the same triple: a client secret, a PFX certificate and the
PFX's password (``PfxCredentials``). ``check_pfx`` opens the PFX with its password and checks that
it holds a private key and a certificate that is valid now; each failure is its own errorId and
names the ``owner`` (the store, provider or job the credentials belong to). ``request_token``
(``-ValidateOnline``) asks the authority for a token with the client secret (client credentials
flow, msal) and reports a refusal with the authority's own error code.

Secrets (the PFX password and the client secret) stay in their ``SecretStr`` until the moment they
are handed to ``cryptography`` or msal; no message, ``repr`` or log line is built from them, and
text that comes back from the authority is scrubbed of them before it is shown (R19).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import EngineError
from ..model.settings import PfxCredentials

_log = logging.getLogger("groupid_upgrade.source.credentials")

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
DEFAULT_SCOPES: tuple[str, ...] = ("https://graph.microsoft.com/.default",)

# The outer structure of a PKCS#12 file (RFC 7292): SEQUENCE { INTEGER 3, ContentInfo { OID
# pkcs7-data | pkcs7-signedData, ... }, ... }.
_PKCS7_DATA = bytes.fromhex("06092a864886f70d010701")
_PKCS7_SIGNED_DATA = bytes.fromhex("06092a864886f70d010702")


@dataclass(frozen=True)
class PfxCheck:
    """What ``check_pfx`` found in a PFX file that passed every check; no secret in it."""

    thumbprint: str  # SHA-1 of the certificate's DER, hex, upper case (as Windows shows it)
    subject: str  # RFC 4514, e.g. ``CN=GroupID Fabrikam``
    not_before: dt.datetime  # UTC
    not_after: dt.datetime  # UTC
    has_private_key: bool = True


# --------------------------------------------------------------------------------------------
# Offline: the PFX file
# --------------------------------------------------------------------------------------------


def check_pfx(credentials: PfxCredentials, *, owner: str, now: dt.datetime | None = None) -> PfxCheck:
    """Open the PFX of ``credentials`` and check it (R5, R6, R7); return what the run records.

    Raises ``EngineError`` with ``PfxUnreadable`` (missing, unreadable or not PKCS#12),
    ``PfxPasswordInvalid``, ``PfxHasNoPrivateKey``, ``CertificateNotYetValid`` or
    ``CertificateExpired``; every message and ``target`` names ``owner``.
    """
    from cryptography.hazmat.primitives import hashes

    path = Path(credentials.pfx_file)
    data = _read_pfx(path, owner)
    password = credentials.pfx_password.get_secret_value()
    loaded = _load_pkcs12(data, password)
    if loaded is None:
        if not _looks_like_pkcs12(data):
            raise _unreadable(path, owner, "is not a PKCS#12 (PFX) file")
        raise EngineError(
            "PfxPasswordInvalid",
            f"The PFX certificate file '{path}' of {owner} does not open with the password given.",
            target=owner,
            recommended_action=(
                "Give the password the PFX file was exported with (the one the current GroupID "
                "installation uses for it), or export the certificate again with a new password."
            ),
        )
    key, cert, additional = loaded
    if cert is None and not additional:
        raise _unreadable(path, owner, "holds no certificate")
    if key is None:
        raise _no_private_key(path, owner, "holds no private key")
    if cert is None:
        # A key but no certificate marked as its own: the one whose public key matches is it.
        cert = next((c for c in additional if _same_public_key(c.public_key(), key.public_key())), None)
        if cert is None:
            raise _no_private_key(path, owner, "holds no private key for its certificate")
    elif not _same_public_key(cert.public_key(), key.public_key()):
        raise _no_private_key(path, owner, "holds a private key that does not belong to its certificate")

    not_before = cert.not_valid_before_utc
    not_after = cert.not_valid_after_utc
    moment = _utc(now) if now is not None else dt.datetime.now(dt.timezone.utc)
    thumbprint = cert.fingerprint(hashes.SHA1()).hex().upper()  # Windows' thumbprint is SHA-1
    if moment < not_before:
        raise EngineError(
            "CertificateNotYetValid",
            f"The certificate {thumbprint} in '{path}' of {owner} is not valid before {_when(not_before)}.",
            target=owner,
            recommended_action=(
                "Wait until the certificate becomes valid, or give a PFX whose certificate is valid now "
                "(check the clock of this computer too)."
            ),
            extra={"thumbprint": thumbprint, "notBefore": not_before.isoformat()},
        )
    if moment > not_after:
        raise EngineError(
            "CertificateExpired",
            f"The certificate {thumbprint} in '{path}' of {owner} expired on {_when(not_after)}.",
            target=owner,
            recommended_action=(
                "Upload a new certificate to the application in Entra ID (App registrations, "
                "Certificates & secrets) and give its PFX file and password."
            ),
            extra={"thumbprint": thumbprint, "notAfter": not_after.isoformat()},
        )
    _log.debug("PFX of %s checked: certificate %s", owner, thumbprint)
    return PfxCheck(
        thumbprint=thumbprint,
        subject=cert.subject.rfc4514_string(),
        not_before=not_before,
        not_after=not_after,
        has_private_key=True,
    )


def _read_pfx(path: Path, owner: str) -> bytes:
    from ..safety.reading import PFX_BYTES, FileRefused, read_bytes

    try:
        return read_bytes(path, limit=PFX_BYTES)  # a regular file of bounded size: never /dev/zero read to the end
    except FileRefused as exc:
        reason = {"it does not exist": "does not exist", "a folder, not a file": "is a folder, not a file",
                  "this account may not read it": "cannot be read by this account"}.get(exc.reason,
                                                                                       f"cannot be used: {exc.reason}")
        raise _unreadable(path, owner, reason) from None


def _load_pkcs12(data: bytes, password: str) -> tuple[Any, Any, list[Any]] | None:
    """The key, certificate and additional certificates; ``None`` when the file does not open."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    attempts: list[bytes | None] = [password.encode("utf-8")]
    if password == "":
        attempts.append(None)  # PKCS#12 tells "no password" from "the empty password"
    for attempt in attempts:
        try:
            return pkcs12.load_key_and_certificates(data, attempt)
        except (ValueError, TypeError):
            continue
    return None


def _looks_like_pkcs12(data: bytes) -> bool:
    """Whether ``data`` has the outer structure of a PKCS#12 file (so a failure is the password)."""
    if len(data) < 4 or data[0] != 0x30:
        return False
    pos = 1
    first = data[pos]
    pos += 1
    if first == 0x80:  # BER indefinite length, as some exporters write it
        length = None
    elif first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            return False
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if length is not None and pos + length != len(data):
        return False  # truncated or trailing garbage
    if data[pos : pos + 3] != b"\x02\x01\x03":  # version 3
        return False
    rest = data[pos + 3 : pos + 3 + 32]
    return _PKCS7_DATA in rest or _PKCS7_SIGNED_DATA in rest


def _same_public_key(a: Any, b: Any) -> bool:
    from cryptography.hazmat.primitives import serialization

    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        return bool(
            a.public_bytes(serialization.Encoding.DER, fmt) == b.public_bytes(serialization.Encoding.DER, fmt)
        )
    except (ValueError, TypeError, AttributeError):
        return False


def _unreadable(path: Path, owner: str, why: str) -> EngineError:
    return EngineError(
        "PfxUnreadable",
        f"The PFX certificate file '{path}' of {owner} {why}.",
        target=owner,
        recommended_action=(
            "Give the path of the PFX (PKCS#12) file exported with its private key, readable by the "
            "account that runs the upgrade."
        ),
    )


def _no_private_key(path: Path, owner: str, why: str) -> EngineError:
    return EngineError(
        "PfxHasNoPrivateKey",
        f"The PFX certificate file '{path}' of {owner} {why}.",
        target=owner,
        recommended_action=(
            "Export the certificate again with its private key (in Windows: 'Yes, export the private "
            "key', format PKCS #12) and give that file."
        ),
    )


def _utc(moment: dt.datetime) -> dt.datetime:
    return (
        moment.replace(tzinfo=dt.timezone.utc)
        if moment.tzinfo is None
        else moment.astimezone(dt.timezone.utc)
    )


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


# --------------------------------------------------------------------------------------------
# Online: a token with the client secret (-ValidateOnline)
# --------------------------------------------------------------------------------------------

# What to do for the authority's most common refusals; anything else gets the generic advice.
_ADVICE: dict[str, str] = {
    "AADSTS7000215": (
        "Give the client secret's value (not its secret ID) from the application's Certificates & "
        "secrets page in Entra ID, or create a new client secret."
    ),
    "AADSTS7000222": "Create a new client secret for the application in Entra ID and give its value.",
    "AADSTS700016": "Check the application (client) id and the tenant: the application is not in that tenant.",
    "AADSTS90002": "Check the tenant (its domain name or id): the authority does not know it.",
    "AADSTS900023": "Check the tenant (its domain name or id): it is not a valid tenant identifier.",
    "AADSTS500011": "Check the scope: the resource it names is not in the tenant.",
    "AADSTS7000112": "Enable the application in Entra ID (Enterprise applications), or use another one.",
    "invalid_client": (
        "Check the application (client) id and the client secret's value in Entra ID (App "
        "registrations, Certificates & secrets)."
    ),
}
_GENERIC_ADVICE = (
    "Check the application (client) id, the tenant and the client secret in Entra ID, then try again."
)


def request_token(
    credentials: PfxCredentials,
    *,
    owner: str,
    authority: str = DEFAULT_AUTHORITY,
    scopes: list[str] | None = None,
    ca_file: str | None = None,
    timeout: float = 20,
) -> None:
    """Ask ``authority`` for a token with the client secret of ``credentials`` (``-ValidateOnline``).

    ``authority`` is the authority's URL; when it has no path, ``credentials.tenant`` is appended
    (``https://login.microsoftonline.com`` + ``fabrikam.onmicrosoft.com``). ``ca_file`` replaces the
    system's trusted CAs for the authority's certificate; verification is always on. The token itself
    is thrown away. Raises ``TokenRequestRefused`` (with the authority's error code),
    ``TokenEndpointUnreachable`` or ``AnswerInvalid`` (no application id or tenant).
    """
    import msal
    import requests

    authority_url = _authority_url(authority, credentials, owner)
    if not credentials.application_id:
        raise EngineError(
            "AnswerInvalid",
            f"The application (client) id of {owner} is not known, so no token can be requested.",
            target=owner,
            recommended_action="Give the applicationId of the Entra ID application with the credentials.",
        )
    secrets = _secrets(credentials)
    if ca_file:
        from ..safety.reading import CA_FILE_BYTES, check_readable

        check_readable(ca_file, what="CA file", limit=CA_FILE_BYTES, error_id="TokenEndpointUnreachable")
    session = _VerifyingSession(verify=ca_file if ca_file else True, timeout=timeout)
    host = (urlsplit(authority_url).hostname or "").lower()
    try:
        try:
            app = msal.ConfidentialClientApplication(
                credentials.application_id,
                client_credential=credentials.client_secret.get_secret_value(),
                authority=authority_url,
                # Instance discovery asks login.microsoftonline.com about the authority; an authority
                # the user names explicitly (a national cloud, a test endpoint) is taken as given.
                validate_authority=host in _well_known_hosts(),
                instance_discovery=False,
                http_client=session,
                token_cache=msal.TokenCache(),  # nothing is kept between calls
            )
        except ValueError as exc:
            # msal's tenant discovery failed: the authority answered, but not for this tenant.
            error, aadsts = _discovery_error(_scrub(_chain_text(exc), secrets))
            code = f"{error}, {aadsts}" if aadsts else error
            raise EngineError(
                "TokenRequestRefused",
                f"The authority {authority_url} refused the tenant of {owner} with {code}.",
                target=owner,
                recommended_action=_advice(aadsts, error),
                extra={
                    "authority": authority_url,
                    "authorityError": error,
                    **({"authorityErrorCode": aadsts} if aadsts else {}),
                },
            ) from None
        try:
            result: dict[str, Any] = app.acquire_token_for_client(scopes=list(scopes or DEFAULT_SCOPES)) or {}
        except ValueError:
            raise _unreachable(
                authority_url,
                owner,
                "its token endpoint did not answer with a token response",
                "Check that the authority URL names an Entra ID (OpenID Connect) authority.",
            ) from None
    except requests.exceptions.SSLError:
        raise _unreachable(
            authority_url,
            owner,
            "its certificate could not be verified",
            "Trust the authority's certificate authority on this computer, or give its CA file.",
        ) from None
    except requests.exceptions.Timeout:
        raise _unreachable(
            authority_url,
            owner,
            f"it did not answer within {timeout:g} second{'' if timeout == 1 else 's'}",
            "Check the network path and any proxy to the authority, then try again.",
        ) from None
    except requests.exceptions.ConnectionError:
        raise _unreachable(
            authority_url,
            owner,
            "no connection could be made to it",
            "Check the authority URL, DNS, the firewall and any proxy, then try again.",
        ) from None
    except requests.exceptions.RequestException as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        why = f"it answered with HTTP status {status}" if status else "the request to it failed"
        raise _unreachable(authority_url, owner, why, "Try again later.") from None
    finally:
        session.close()

    if "access_token" in result:
        _log.info("token request for %s accepted by %s", owner, authority_url)
        return
    error = _scrub(str(result.get("error") or "unknown_error"), secrets)
    description = _scrub(str(result.get("error_description") or ""), secrets)
    aadsts = _aadsts(description)
    first = _first_sentence(description)
    detail = f"{error}: {first}" if first else error
    _log.info("token request for %s refused by %s: %s %s", owner, authority_url, error, aadsts or "")
    raise EngineError(
        "TokenRequestRefused",
        f"The authority {authority_url} refused a token for {owner} with {detail}.",
        target=owner,
        recommended_action=_advice(aadsts, error),
        extra={
            "authority": authority_url,
            "authorityError": error,
            **({"authorityErrorCode": aadsts} if aadsts else {}),
        },
    )


class _VerifyingSession:
    """The HTTP client handed to msal: ``requests`` with our CA file and timeout on every request.

    ``requests`` lets ``REQUESTS_CA_BUNDLE`` override a session's ``verify``; passing ``verify``
    with each request keeps the CA file the caller gave. Verification is never switched off.
    """

    def __init__(self, *, verify: str | bool, timeout: float) -> None:
        import requests

        if verify is False:
            raise ValueError("certificate verification cannot be switched off")
        self._verify = verify
        self._timeout = timeout
        self._session = requests.Session()
        self._session.verify = verify

    def get(self, url: str, **kwargs: Any) -> Any:
        return self._session.get(url, **self._settings(kwargs))

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._session.post(url, **self._settings(kwargs))

    def close(self) -> None:
        self._session.close()

    def _settings(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs["verify"] = self._verify
        kwargs.setdefault("timeout", self._timeout)
        kwargs["allow_redirects"] = False  # a token endpoint never redirects; don't follow one
        return kwargs


def _authority_url(authority: str, credentials: PfxCredentials, owner: str) -> str:
    parts = urlsplit(authority.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise EngineError(
            "AnswerInvalid",
            f"The authority '{authority}' for {owner} is not an https URL.",
            target=owner,
            recommended_action="Give the authority as https://host/tenant, e.g. https://login.microsoftonline.com/contoso.onmicrosoft.com.",
        )
    base = f"https://{parts.netloc}{parts.path.rstrip('/')}"
    if parts.path.strip("/"):
        return base
    if not credentials.tenant:
        raise EngineError(
            "AnswerInvalid",
            f"The tenant of {owner} is not known, so no token can be requested from {base}.",
            target=owner,
            recommended_action="Give the tenant (its domain name or id) with the credentials.",
        )
    return f"{base}/{credentials.tenant.strip('/')}"


def _well_known_hosts() -> frozenset[str]:
    try:
        from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS
    except ImportError:  # pragma: no cover - msal moved it
        return frozenset({"login.microsoftonline.com"})
    return frozenset(WELL_KNOWN_AUTHORITY_HOSTS)


def _unreachable(authority_url: str, owner: str, why: str, action: str) -> EngineError:
    return EngineError(
        "TokenEndpointUnreachable",
        f"The authority {authority_url} could not be asked for a token for {owner}: {why}.",
        target=owner,
        recommended_action=action,
        extra={"authority": authority_url},
    )


def _secrets(credentials: PfxCredentials) -> list[str]:
    values = [credentials.client_secret.get_secret_value(), credentials.pfx_password.get_secret_value()]
    return [v for v in values if v]


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "**********")
    return text


def _chain_text(exc: BaseException) -> str:
    """The texts of ``exc`` and the exceptions it was raised from (msal re-raises without the body)."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(texts) < 5:
        seen.add(id(current))
        texts.append(str(current))
        current = current.__cause__ or current.__context__
    return "\n".join(reversed(texts))


def _aadsts(text: str) -> str | None:
    match = re.search(r"\bAADSTS\d+\b", text)
    return match.group(0) if match else None


def _discovery_error(text: str) -> tuple[str, str | None]:
    """The OAuth ``error`` and AADSTS code of a tenant discovery msal refused (its JSON body)."""
    start = text.find("{")
    if start >= 0:
        try:
            body, _ = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return body["error"], _aadsts(str(body.get("error_description") or ""))
    return "tenant_discovery_failed", _aadsts(text)


def _first_sentence(text: str) -> str:
    """``AADSTS7000215: Invalid client secret provided`` of a multi-line, multi-sentence description."""
    lines = text.strip().splitlines()
    first = lines[0].strip() if lines else ""
    end = first.find(". ")
    return (first[:end] if end > 0 else first).rstrip(".").strip()


def _advice(aadsts: str | None, error: str) -> str:
    if aadsts and aadsts in _ADVICE:
        return _ADVICE[aadsts]
    return _ADVICE.get(error.split()[0] if error else "", _GENERIC_ADVICE)
