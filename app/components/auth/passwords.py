"""Password and PIN hashing (argon2) and API token hashing."""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# A real hash to verify against when the username does not exist, so timing does not reveal it.
_DUMMY = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    """An argon2id hash."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; always spends the same work."""
    try:
        return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def check_password(password_hash: str | None, password: str) -> bool:
    """`verify_password` on a worker thread: an argon2 check takes tens of milliseconds of CPU (far more on a
    loaded machine), which on the event loop would hold up every other request of the process meanwhile."""
    return await asyncio.to_thread(verify_password, password_hash, password)


def new_api_token() -> tuple[str, str]:
    """A fresh token and its SHA-256 (tokens are random, so a fast hash is enough)."""
    token = "ys_" + secrets.token_urlsafe(32)
    return token, hash_api_token(token)


def hash_api_token(token: str) -> str:
    """The stored form of an API token."""
    return hashlib.sha256(token.encode()).hexdigest()
