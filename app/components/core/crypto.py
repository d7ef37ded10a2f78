"""Encryption at rest for personal identifiers (AES-GCM) and keyed blind indexes (HMAC-SHA256)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.settings import get_settings

_VERSION = b"\x01"


def _aead() -> AESGCM:
    return AESGCM(bytes.fromhex(get_settings().data_key))


def encrypt(plaintext: str, context: str) -> str:
    """Encrypt `plaintext`; `context` (e.g. "phone") is bound as associated data so fields cannot be swapped."""
    nonce = os.urandom(12)
    ct = _aead().encrypt(nonce, plaintext.encode(), context.encode())
    return base64.b64encode(_VERSION + nonce + ct).decode()


def decrypt(token: str | None, context: str) -> str | None:
    """Decrypt a value made by `encrypt`; None stays None."""
    if not token:
        return None
    raw = base64.b64decode(token)
    return _aead().decrypt(raw[1:13], raw[13:], context.encode()).decode()


def blind_index(value: str, context: str) -> str:
    """A keyed HMAC of a normalised value for exact lookup without storing it in clear."""
    key = bytes.fromhex(get_settings().index_key)
    return hmac.new(key, f"{context}:{value}".encode(), hashlib.sha256).hexdigest()
