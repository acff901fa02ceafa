"""Secrets at rest, encrypted with a key derived from a GroupID passphrase (R19).

Format (docs/formats.md, "Secrets"): ``enc:v1:`` + base64(nonce[12] || AES-256-GCM ciphertext+tag).
The key is PBKDF2-HMAC-SHA256(passphrase, salt, 200,000 iterations). The salt and a check value
(the constant ``CHECK_PLAINTEXT`` encrypted) are stored with the data, so a wrong passphrase is
known before any secret is needed: ``PassphraseInvalid``.
"""

from __future__ import annotations

import base64
import os
from functools import lru_cache

from .errors import EngineError

PREFIX = "enc:v1:"
ITERATIONS = 200_000
CHECK_PLAINTEXT = b"GroupID passphrase check v1"


def new_salt() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


@lru_cache(maxsize=8)
def _derive(passphrase: str, salt_b64: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=base64.b64decode(salt_b64), iterations=ITERATIONS)
    return kdf.derive(passphrase.encode("utf-8"))


class SecretBox:
    """Encrypts and decrypts secrets for one installation (one passphrase, one salt)."""

    def __init__(self, passphrase: str, salt_b64: str, *, owner: str) -> None:
        self._key = _derive(passphrase, salt_b64)
        self.salt = salt_b64
        self.owner = owner  # "source" or "target": named in errors

    def encrypt(self, plaintext: str | bytes) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
        nonce = os.urandom(12)
        return PREFIX + base64.b64encode(nonce + AESGCM(self._key).encrypt(nonce, data, None)).decode("ascii")

    def decrypt_bytes(self, token: str, *, what: str) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if not token.startswith(PREFIX):
            raise EngineError(
                "DatabaseSchemaUnknown",
                f"{what} is not an encrypted value of a known format.",
                target=what,
                recommended_action="Check that the database belongs to a supported GroupID version.",
            )
        raw = base64.b64decode(token[len(PREFIX):])
        try:
            return AESGCM(self._key).decrypt(raw[:12], raw[12:], None)
        except InvalidTag:
            raise self._wrong_passphrase() from None

    def decrypt(self, token: str, *, what: str) -> str:
        return self.decrypt_bytes(token, what=what).decode("utf-8")

    def check_value(self) -> str:
        return self.encrypt(CHECK_PLAINTEXT)

    def verify(self, check_token: str) -> None:
        """Raise ``PassphraseInvalid`` unless the passphrase opens the stored check value."""
        if self.decrypt_bytes(check_token, what=f"the {self.owner} passphrase check") != CHECK_PLAINTEXT:
            raise self._wrong_passphrase()

    def _wrong_passphrase(self) -> EngineError:
        return EngineError(
            "PassphraseInvalid",
            f"The {self.owner} passphrase is wrong: it does not decrypt the {self.owner}'s secrets.",
            target=f"{self.owner} passphrase",
            recommended_action=f"Give the {self.owner} passphrase that was set when GroupID was configured "
            "(answer file or secrets file).",
        )
