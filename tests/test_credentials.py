"""The credential checks of R5, R6, R7: the PFX offline, and a token from a loopback authority."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from groupid_upgrade.errors import CATALOG, EngineError
from groupid_upgrade.model.settings import PfxCredentials
from groupid_upgrade.sample.certificates import write_pfx
from groupid_upgrade.source.credentials import PfxCheck, check_pfx, request_token
from support import leaks
from token_endpoint import TokenEndpoint

pytestmark = pytest.mark.timeout(60)

PFX_PASSWORD = "Pfx-P@ss-7f3c2a91"
CLIENT_SECRET = "Cl1ent~Secret.9b8e7d6c5b4a"
APP_ID = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
TENANT = "fabrikam.onmicrosoft.com"
OWNER = "Office 365 provider of identity store 'Fabrikam' (id 1)"
JOB_OWNER = "Synchronize job 'Fabrikam mail users' (6f1c2d3e)"
UTC = dt.timezone.utc


def _credentials(pfx: Path, *, password: str = PFX_PASSWORD, secret: str = CLIENT_SECRET) -> PfxCredentials:
    return PfxCredentials(
        client_secret=SecretStr(secret),
        pfx_file=pfx,
        pfx_password=SecretStr(password),
        application_id=APP_ID,
        tenant=TENANT,
    )


def _assert_no_secret(*texts: object, also: dict[str, str] | None = None) -> None:
    leaks.assert_no_leaks({"PFX password": PFX_PASSWORD, "client secret": CLIENT_SECRET, **(also or {})},
                          texts=[str(text) for text in texts])


def _assert_error(exc: EngineError, error_id: str, owner: str = OWNER) -> None:
    assert exc.error_id == error_id
    assert owner in exc.message
    assert exc.target == owner
    assert exc.recommended_action
    assert exc.message.endswith(".")
    # one sentence: no sentence break inside the message (dots in names and dates are fine)
    assert ". " not in exc.message.rstrip(".").replace(f"'{owner}'", "")
    obj = exc.to_error_object()
    assert obj["data"]["errorId"] == error_id
    assert obj["data"]["category"] == CATALOG[error_id].category
    _assert_no_secret(exc.message, repr(exc), str(exc), obj)


# --------------------------------------------------------------------------------------------
# Offline: check_pfx
# --------------------------------------------------------------------------------------------


def test_good_pfx_gives_the_thumbprint(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pfx = tmp_path / "fabrikam.pfx"
    thumbprint = write_pfx(pfx, "CN=GroupID Fabrikam", PFX_PASSWORD, seed=11)
    credentials = _credentials(pfx)
    with caplog.at_level(logging.DEBUG):
        result = check_pfx(credentials, owner=OWNER)
    assert isinstance(result, PfxCheck)
    assert result.thumbprint == thumbprint
    assert result.thumbprint == result.thumbprint.upper() and len(result.thumbprint) == 40
    assert result.subject == "CN=GroupID Fabrikam"
    assert result.has_private_key is True
    assert result.not_before < dt.datetime.now(UTC) < result.not_after
    _assert_no_secret(repr(result), repr(credentials), str(credentials), caplog.text)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.thumbprint = "X"  # type: ignore[misc]


def test_good_pfx_with_empty_password(tmp_path: Path) -> None:
    # write_pfx insists on a password; an exporter may write none at all
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    source = tmp_path / "source.pfx"
    thumbprint = write_pfx(source, "CN=No password", PFX_PASSWORD, seed=12)
    key, cert, _ = pkcs12.load_key_and_certificates(source.read_bytes(), PFX_PASSWORD.encode())
    pfx = tmp_path / "nopass.pfx"
    pfx.write_bytes(
        pkcs12.serialize_key_and_certificates(b"np", key, cert, None, serialization.NoEncryption())  # type: ignore[arg-type]
    )
    assert check_pfx(_credentials(pfx, password=""), owner=OWNER).thumbprint == thumbprint


def test_wrong_password_is_pfx_password_invalid(tmp_path: Path) -> None:
    pfx = tmp_path / "fabrikam.pfx"
    write_pfx(pfx, "CN=GroupID Fabrikam", PFX_PASSWORD, seed=13)
    with pytest.raises(EngineError) as caught:
        check_pfx(_credentials(pfx, password="not-" + PFX_PASSWORD), owner=OWNER)
    _assert_error(caught.value, "PfxPasswordInvalid")
    assert "not-" not in caught.value.message
    assert str(pfx) in caught.value.message


def test_pfx_without_key_is_pfx_has_no_private_key(tmp_path: Path) -> None:
    pfx = tmp_path / "public-only.pfx"
    write_pfx(pfx, "CN=Public only", PFX_PASSWORD, seed=14, include_key=False)
    with pytest.raises(EngineError) as caught:
        check_pfx(_credentials(pfx), owner=JOB_OWNER)
    _assert_error(caught.value, "PfxHasNoPrivateKey", JOB_OWNER)


def test_future_certificate_is_certificate_not_yet_valid(tmp_path: Path) -> None:
    pfx = tmp_path / "future.pfx"
    now = dt.datetime.now(UTC).replace(microsecond=0)
    thumbprint = write_pfx(
        pfx,
        "CN=Future",
        PFX_PASSWORD,
        seed=15,
        not_before=now + dt.timedelta(days=3),
        not_after=now + dt.timedelta(days=400),
    )
    with pytest.raises(EngineError) as caught:
        check_pfx(_credentials(pfx), owner=OWNER)
    _assert_error(caught.value, "CertificateNotYetValid")
    assert thumbprint in caught.value.message
    assert (now + dt.timedelta(days=3)).strftime("%Y-%m-%d") in caught.value.message
    # ... and it is fine once that day has come
    later = check_pfx(_credentials(pfx), owner=OWNER, now=now + dt.timedelta(days=4))
    assert later.thumbprint == thumbprint


def test_expired_certificate_is_certificate_expired(tmp_path: Path) -> None:
    pfx = tmp_path / "expired.pfx"
    now = dt.datetime.now(UTC).replace(microsecond=0)
    thumbprint = write_pfx(
        pfx,
        "CN=Expired",
        PFX_PASSWORD,
        seed=16,
        not_before=now - dt.timedelta(days=400),
        not_after=now - dt.timedelta(days=2),
    )
    with pytest.raises(EngineError) as caught:
        check_pfx(_credentials(pfx), owner=JOB_OWNER)
    _assert_error(caught.value, "CertificateExpired", JOB_OWNER)
    assert thumbprint in caught.value.message
    # a naive "now" is UTC; a year earlier the certificate was valid
    earlier = (now - dt.timedelta(days=300)).replace(tzinfo=None)
    assert check_pfx(_credentials(pfx), owner=JOB_OWNER, now=earlier).thumbprint == thumbprint


@pytest.mark.parametrize("case", ["missing", "folder", "not-pkcs12", "truncated", "empty"])
def test_unreadable_pfx_is_pfx_unreadable(tmp_path: Path, case: str) -> None:
    pfx = tmp_path / "broken.pfx"
    if case == "folder":
        pfx.mkdir()
    elif case == "not-pkcs12":
        pfx.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot a pfx\n-----END CERTIFICATE-----\n")
    elif case == "truncated":
        good = tmp_path / "good.pfx"
        write_pfx(good, "CN=Truncated", PFX_PASSWORD, seed=17)
        pfx.write_bytes(good.read_bytes()[:200])
    elif case == "empty":
        pfx.write_bytes(b"")
    with pytest.raises(EngineError) as caught:
        check_pfx(_credentials(pfx), owner=OWNER)
    _assert_error(caught.value, "PfxUnreadable")
    assert str(pfx) in caught.value.message


def test_no_error_text_contains_the_password(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    now = dt.datetime.now(UTC).replace(microsecond=0)
    files = {
        "password": (tmp_path / "a.pfx", {}),
        "key": (tmp_path / "b.pfx", {"include_key": False}),
        "future": (tmp_path / "c.pfx", {"not_before": now + dt.timedelta(days=1)}),
        "expired": (
            tmp_path / "d.pfx",
            {"not_before": now - dt.timedelta(days=9), "not_after": now - dt.timedelta(days=1)},
        ),
    }
    for seed, (path, options) in enumerate(files.values(), start=20):
        write_pfx(path, "CN=Secret check", PFX_PASSWORD, seed=seed, **options)  # type: ignore[arg-type]
    (tmp_path / "e.pfx").write_bytes(b"garbage")
    attempts = [
        _credentials(files["password"][0], password=PFX_PASSWORD + "x"),
        _credentials(files["key"][0]),
        _credentials(files["future"][0]),
        _credentials(files["expired"][0]),
        _credentials(tmp_path / "e.pfx"),
        _credentials(tmp_path / "missing.pfx"),
    ]
    seen: set[str] = set()
    with caplog.at_level(logging.DEBUG):
        for credentials in attempts:
            with pytest.raises(EngineError) as caught:
                check_pfx(credentials, owner=OWNER)
            seen.add(caught.value.error_id)
            text = caught.value.to_error_object()
            _assert_no_secret(text, repr(caught.value), caught.value.recommended_action, caught.value.__cause__ or "",
                              also={"a wrong PFX password": PFX_PASSWORD + "x"})
    _assert_no_secret(caplog.text)
    assert seen == {
        "PfxPasswordInvalid",
        "PfxHasNoPrivateKey",
        "CertificateNotYetValid",
        "CertificateExpired",
        "PfxUnreadable",
    }


# --------------------------------------------------------------------------------------------
# Online: request_token against a loopback HTTPS authority
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenEndpoint]:
    server = TokenEndpoint(
        tmp_path_factory.mktemp("token-endpoint"),
        tenant=TENANT,
        client_id=APP_ID,
        client_secret=CLIENT_SECRET,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_token_for_the_right_secret(
    endpoint: TokenEndpoint, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = len(endpoint.requests)
    with caplog.at_level(logging.DEBUG):
        request_token(
            _credentials(tmp_path / "unused.pfx"),
            owner=OWNER,
            authority=endpoint.authority,
            ca_file=endpoint.ca_file,
            timeout=10,
        )
    posts = [r for r in endpoint.requests[before:] if r.method == "POST"]
    assert len(posts) == 1
    assert posts[0].form["client_id"] == APP_ID
    assert posts[0].form["grant_type"] == "client_credentials"
    assert posts[0].form["scope"] == "https://graph.microsoft.com/.default"
    _assert_no_secret(caplog.text)


def test_authority_without_tenant_takes_the_credentials_tenant(
    endpoint: TokenEndpoint, tmp_path: Path
) -> None:
    before = len(endpoint.requests)
    request_token(
        _credentials(tmp_path / "unused.pfx"),
        owner=OWNER,
        authority=endpoint.base_url,
        scopes=["https://outlook.office365.com/.default"],
        ca_file=endpoint.ca_file,
        timeout=10,
    )
    paths = [r.path for r in endpoint.requests[before:]]
    assert f"/{TENANT}/v2.0/.well-known/openid-configuration" in paths
    assert f"/{TENANT}/oauth2/v2.0/token" in paths


def test_wrong_secret_is_token_request_refused(
    endpoint: TokenEndpoint, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "Wr0ng~Secret.1234567890"
    with caplog.at_level(logging.DEBUG), pytest.raises(EngineError) as caught:
        request_token(
            _credentials(tmp_path / "unused.pfx", secret=wrong),
            owner=JOB_OWNER,
            authority=endpoint.authority,
            ca_file=endpoint.ca_file,
            timeout=10,
        )
    exc = caught.value
    assert exc.error_id == "TokenRequestRefused"
    assert "invalid_client" in exc.message
    assert "AADSTS7000215" in exc.message
    assert JOB_OWNER in exc.message and exc.target == JOB_OWNER
    assert endpoint.authority in exc.message
    assert "Trace ID" not in exc.message and "Ensure" not in exc.message  # its first sentence only
    assert exc.message.endswith("AADSTS7000215: Invalid client secret provided.")
    assert exc.data()["authorityError"] == "invalid_client"
    assert exc.data()["authorityErrorCode"] == "AADSTS7000215"
    assert "secret" in (exc.recommended_action or "").lower()
    _assert_no_secret(exc.message, repr(exc), exc.to_error_object(), caplog.text, also={"the wrong secret": wrong})


def test_unknown_tenant_is_token_request_refused(endpoint: TokenEndpoint, tmp_path: Path) -> None:
    with pytest.raises(EngineError) as caught:
        request_token(
            _credentials(tmp_path / "unused.pfx"),
            owner=OWNER,
            authority=f"{endpoint.base_url}/contoso.onmicrosoft.com",
            ca_file=endpoint.ca_file,
            timeout=10,
        )
    exc = caught.value
    assert exc.error_id == "TokenRequestRefused"
    assert "invalid_tenant" in exc.message and "AADSTS90002" in exc.message
    assert exc.data()["authorityError"] == "invalid_tenant"
    assert exc.data()["authorityErrorCode"] == "AADSTS90002"
    assert "tenant" in (exc.recommended_action or "")
    assert OWNER in exc.message
    _assert_no_secret(exc.to_error_object())


def test_closed_port_is_token_endpoint_unreachable(tmp_path: Path) -> None:
    authority = f"https://127.0.0.1:{_free_port()}/{TENANT}"
    with pytest.raises(EngineError) as caught:
        request_token(_credentials(tmp_path / "unused.pfx"), owner=OWNER, authority=authority, timeout=5)
    exc = caught.value
    assert exc.error_id == "TokenEndpointUnreachable"
    assert CATALOG["TokenEndpointUnreachable"].category == "ConnectionError"
    assert authority in exc.message
    assert OWNER in exc.message and exc.target == OWNER
    assert exc.data()["authority"] == authority
    _assert_no_secret(exc.to_error_object())


def test_untrusted_certificate_is_refused(endpoint: TokenEndpoint, tmp_path: Path) -> None:
    # Without the test CA the loopback certificate must not be accepted: verification stays on.
    before = len(endpoint.requests)
    with pytest.raises(EngineError) as caught:
        request_token(
            _credentials(tmp_path / "unused.pfx"), owner=OWNER, authority=endpoint.authority, timeout=10
        )
    exc = caught.value
    assert exc.error_id == "TokenEndpointUnreachable"
    assert "certificate" in exc.message
    assert endpoint.authority in exc.message
    assert len(endpoint.requests) == before  # nothing got through, least of all the secret


def test_missing_application_id_is_an_answer_error(tmp_path: Path) -> None:
    credentials = _credentials(tmp_path / "unused.pfx").model_copy(update={"application_id": None})
    with pytest.raises(EngineError) as caught:
        request_token(credentials, owner=OWNER, authority="https://127.0.0.1:1/x", timeout=1)
    assert caught.value.error_id == "AnswerInvalid"
    assert OWNER in caught.value.message


def test_silent_authority_times_out(tmp_path: Path) -> None:
    # A port that takes the connection but never answers (not even the TLS handshake).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        authority = f"https://127.0.0.1:{listener.getsockname()[1]}/{TENANT}"
        with pytest.raises(EngineError) as caught:
            request_token(_credentials(tmp_path / "unused.pfx"), owner=OWNER, authority=authority, timeout=1)
    exc = caught.value
    assert exc.error_id == "TokenEndpointUnreachable"
    assert authority in exc.message and OWNER in exc.message
    assert "within 1 second." in exc.message or "no connection" in exc.message
