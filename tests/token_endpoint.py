"""A loopback HTTPS stand-in for the Entra ID token endpoint (for ``request_token`` tests).

It serves what msal asks for in the client credentials flow: the tenant's OpenID configuration at
``/<tenant>/v2.0/.well-known/openid-configuration`` and the token endpoint at
``/<tenant>/oauth2/v2.0/token``. The right client id and secret get an access token; a wrong
secret gets Entra ID's ``invalid_client`` / ``AADSTS7000215`` answer with HTTP 401, an unknown
tenant gets ``invalid_tenant`` / ``AADSTS90002`` with HTTP 400. Every request is recorded.

The server certificate is issued by a throw-away test CA (``tests/testbed/certs.py``) for the IP
address 127.0.0.1, so clients verify it with that CA's file and nothing is switched off.
"""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from testbed.certs import make_ca, make_server_certificate

INVALID_SECRET_BODY = {
    "error": "invalid_client",
    "error_description": (
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is "
        "the client secret value, not the client secret ID.\r\nTrace ID: 00000000-0000-0000-0000-000000000000"
        "\r\nCorrelation ID: 00000000-0000-0000-0000-000000000001\r\nTimestamp: 2025-01-01 00:00:00Z"
    ),
    "error_codes": [7000215],
    "trace_id": "00000000-0000-0000-0000-000000000000",
    "correlation_id": "00000000-0000-0000-0000-000000000001",
}


@dataclass
class RecordedRequest:
    method: str
    path: str
    form: dict[str, str] = field(default_factory=dict)


class TokenEndpoint:
    """A threaded HTTPS server on 127.0.0.1; use as a context manager or call ``stop``."""

    def __init__(
        self,
        directory: Path,
        *,
        tenant: str,
        client_id: str,
        client_secret: str,
        socket_timeout: float = 10,
    ) -> None:
        ca = make_ca(directory / "ca")
        server_cert = make_server_certificate(
            ca, directory, ip_addresses=["127.0.0.1"], dns_names=[], name="token"
        )
        self.ca_file = str(ca.cert_file)
        self.tenant = tenant
        self.client_id = client_id
        self.client_secret = client_secret
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(server_cert.cert_file), str(server_cert.key_file))

        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            timeout = socket_timeout  # a client that stalls cannot hold a thread forever

            def setup(self) -> None:
                # The TLS handshake happens here, in the connection's own thread, within the timeout.
                self.request.settimeout(socket_timeout)
                self.request = context.wrap_socket(self.request, server_side=True)
                super().setup()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output (and anything posted) out of stderr

            def do_GET(self) -> None:
                endpoint._record("GET", self.path, {})
                endpoint._answer_get(self)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8") if length else ""
                form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
                endpoint._record("POST", self.path, form)
                endpoint._answer_post(self, form)

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1})
        self._thread.daemon = True

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> TokenEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> TokenEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant}"

    # -- answers ----------------------------------------------------------------------------

    def _record(self, method: str, path: str, form: dict[str, str]) -> None:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, form))

    def _openid_configuration(self) -> dict[str, Any]:
        base = self.authority
        return {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "tenant_region_scope": "EU",
        }

    def _answer_get(self, handler: BaseHTTPRequestHandler) -> None:
        path = urlsplit(handler.path).path
        if path == f"/{self.tenant}/v2.0/.well-known/openid-configuration":
            _send_json(handler, 200, self._openid_configuration())
        elif path.endswith("/v2.0/.well-known/openid-configuration"):
            _send_json(
                handler,
                400,
                {
                    "error": "invalid_tenant",
                    "error_description": "AADSTS90002: Tenant 'unknown' not found. Check to make sure you "
                    "have the correct tenant ID.",
                    "error_codes": [90002],
                },
            )
        else:
            _send_json(handler, 404, {"error": "not_found"})

    def _answer_post(self, handler: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        path = urlsplit(handler.path).path
        if path != f"/{self.tenant}/oauth2/v2.0/token":
            _send_json(handler, 404, {"error": "not_found"})
        elif form.get("grant_type") != "client_credentials":
            _send_json(handler, 400, {"error": "unsupported_grant_type"})
        elif form.get("client_id") != self.client_id:
            _send_json(
                handler,
                400,
                {
                    "error": "unauthorized_client",
                    "error_description": "AADSTS700016: Application with identifier was not found in "
                    "the directory.",
                    "error_codes": [700016],
                },
            )
        elif form.get("client_secret") != self.client_secret:
            _send_json(handler, 401, INVALID_SECRET_BODY)
        else:
            _send_json(
                handler,
                200,
                {
                    "token_type": "Bearer",
                    "expires_in": 3599,
                    "ext_expires_in": 3599,
                    "access_token": "test-access-token",
                },
            )


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that refuses our certificate is a test case, not a traceback on stderr


def _send_json(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode("utf-8")
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json; charset=utf-8")
    handler.send_header("Content-Length", str(len(data)))
    handler.send_header("Cache-Control", "no-store")
    handler.end_headers()
    handler.wfile.write(data)
