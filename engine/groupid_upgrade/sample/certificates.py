"""PFX files for the sample's Entra ID store and Office 365 providers (R5, R6, R7)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path


def write_pfx(path: Path, subject: str, password: str, *, seed: int,
              not_before: dt.datetime | None = None, not_after: dt.datetime | None = None,
              include_key: bool = True) -> str:
    """Write a PKCS#12 file with a self-signed certificate; return its SHA-1 thumbprint (hex)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    # The key follows from the seed, so a sample's certificates are the same for the same seed.
    key = ec.derive_private_key(seed % (2**255 - 19) + 1, ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject.removeprefix("CN="))])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(seed % (2**63) + 1)
        .not_valid_before(not_before or now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=730))
        .sign(key, hashes.SHA256())
    )
    data = pkcs12.serialize_key_and_certificates(
        subject.encode("utf-8"), key if include_key else None, cert, None,
        serialization.BestAvailableEncryption(password.encode("utf-8")),
    )
    # A PFX holds a private key: readable by its owner only (R19), from the moment it exists.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    if os.name == "posix":
        os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT: set it
    return cert.fingerprint(hashes.SHA1()).hex().upper()
