"""Staff authentication: passwords with lock-out, server-side sessions in Redis, API tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any

from app.components.passwords import hash_api_token, verify_password
from app.db import fetch
from app.redis import get_redis
from app.settings import get_settings

SESSION_PREFIX = "ys:sess:"
STAFF_SESSIONS_PREFIX = "ys:staff-sess:"
FAIL_PREFIX = "ys:loginfail:"


@dataclass(frozen=True)
class StaffUser:
    """The authenticated actor of a request, as components see it."""

    id: int
    username: str
    display_name: str
    role: str
    store_id: int | None
    store_code: str | None
    store_name: str | None
    session_key: str | None = None
    language: str | None = None
    client_addr: str = ""
    channel: str = "web"
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def with_request(self, client_addr: str, channel: str) -> StaffUser:
        """A copy carrying where the request came from (for audit)."""
        return replace(self, client_addr=client_addr, channel=channel)


@dataclass(frozen=True)
class LoginResult:
    """Outcome of a login attempt: a user, or a lock-out wait in seconds, or neither (bad credentials)."""

    user: StaffUser | None = None
    locked_for: int = 0


_STAFF_SQL = (
    "SELECT s.id, s.username, s.display_name, s.role, s.store AS store_id, s.password_hash, s.active,"
    " st.code AS store_code, st.name AS store_name"
    " FROM staff s LEFT JOIN store st ON st.id = s.store"
)


def _user_from_row(row: dict) -> StaffUser:
    return StaffUser(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        store_id=row["store_id"],
        store_code=row["store_code"],
        store_name=row["store_name"],
    )


def _fail_key(username: str, client_addr: str) -> str:
    return f"{FAIL_PREFIX}{username.lower()}:{client_addr}"


async def login(username: str, password: str, client_addr: str) -> LoginResult:
    """Check credentials; after too many recent failures for username+address, refuse with the wait."""
    settings = get_settings()
    redis = get_redis()
    key = _fail_key(username, client_addr)
    now = time.time()
    window = settings.login_window_seconds
    await redis.zremrangebyscore(key, 0, now - window)
    recent = await redis.zrange(key, 0, -1, withscores=True)
    if len(recent) >= settings.login_max_failures:
        oldest = recent[-settings.login_max_failures][1]
        return LoginResult(locked_for=max(1, int(oldest + window - now) + 1))

    rows = await fetch(_STAFF_SQL + " WHERE s.username = {}", username.strip())
    row = rows[0] if rows else None
    ok = verify_password(row["password_hash"] if row else None, password)
    if not ok or not row or not row["active"]:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {f"{now}:{secrets.token_hex(4)}": now})
            pipe.expire(key, window)
            await pipe.execute()
        return LoginResult()
    await redis.delete(key)
    return LoginResult(user=_user_from_row(row))


_TOUCH = """
local data = redis.call('HGETALL', KEYS[1])
if #data > 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return data
"""
_touch_scripts: dict[int, Any] = {}


def _touch_script() -> Any:
    """The touch script bound to the current client; redis-py reloads it if Redis restarted (NOSCRIPT)."""
    redis = get_redis()
    script = _touch_scripts.get(id(redis))
    if script is None:
        script = _touch_scripts[id(redis)] = redis.register_script(_TOUCH)
    return script


def _session_key(session_id: str) -> str:
    # Only a hash of the cookie value is a Redis key, so a leaked key list cannot be replayed as cookies.
    return SESSION_PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


async def create_session(user: StaffUser, language: str, old_session_id: str | None = None) -> str:
    """Start a session for `user` (dropping any pre-login one) and return the new cookie value."""
    settings = get_settings()
    redis = get_redis()
    session_id = secrets.token_urlsafe(32)
    key = _session_key(session_id)
    async with redis.pipeline(transaction=True) as pipe:
        if old_session_id:
            pipe.delete(_session_key(old_session_id))
        pipe.hset(
            key,
            mapping={
                "staff_id": user.id,
                "username": user.username,
                "display_name": user.display_name,
                "role": user.role,
                "store_id": user.store_id or "",
                "store_code": user.store_code or "",
                "store_name": user.store_name or "",
                "language": language,
                "created": time.time(),
            },
        )
        pipe.expire(key, settings.session_idle_seconds)
        pipe.sadd(f"{STAFF_SESSIONS_PREFIX}{user.id}", key)
        await pipe.execute()
    return session_id


async def load_session(session_id: str) -> StaffUser | None:
    """The user of a live session, sliding its idle timeout; None when idle, too old or unknown."""
    settings = get_settings()
    key = _session_key(session_id)
    # One round trip on every request: read the session and slide its idle timeout in a single script.
    flat = await _touch_script()(keys=[key], args=[settings.session_idle_seconds])
    data = dict(zip(flat[::2], flat[1::2], strict=True))
    if not data:
        return None
    if time.time() - float(data["created"]) > settings.session_absolute_seconds:
        await get_redis().delete(key)
        return None
    return StaffUser(
        id=int(data["staff_id"]),
        username=data["username"],
        display_name=data["display_name"],
        role=data["role"],
        store_id=int(data["store_id"]) if data["store_id"] else None,
        store_code=data["store_code"] or None,
        store_name=data["store_name"] or None,
        session_key=key,
        language=data.get("language"),
    )


async def set_session_language(user: StaffUser, language: str) -> None:
    """Remember the UI language in the session."""
    if user.session_key:
        await get_redis().hset(user.session_key, "language", language)


async def end_session(session_id: str) -> None:
    """Log out: the session is gone at once."""
    await get_redis().delete(_session_key(session_id))


async def end_all_sessions(staff_id: int) -> int:
    """Log a staff member out everywhere (deactivation, password change)."""
    redis = get_redis()
    set_key = f"{STAFF_SESSIONS_PREFIX}{staff_id}"
    keys = await redis.smembers(set_key)
    if keys:
        await redis.delete(*keys)
    await redis.delete(set_key)
    return len(keys)


async def purge_stale_sessions() -> int:
    """Drop sessions past their absolute lifetime and index entries whose session expired; return the count."""
    settings = get_settings()
    redis = get_redis()
    removed = 0
    now = time.time()
    async for set_key in redis.scan_iter(match=f"{STAFF_SESSIONS_PREFIX}*", count=500):
        for key in await redis.smembers(set_key):
            created = await redis.hget(key, "created")
            if created is None or now - float(created) > settings.session_absolute_seconds:
                await redis.delete(key)
                await redis.srem(set_key, key)
                removed += 1
    return removed


async def authenticate_token(token: str) -> StaffUser | None:
    """The active staff user behind an API bearer token."""
    rows = await fetch(
        _STAFF_SQL + " JOIN api_token t ON t.staff = s.id WHERE t.token_hash = {} AND t.revoked = {}",
        hash_api_token(token),
        False,
    )
    if not rows or not rows[0]["active"]:
        return None
    return _user_from_row(rows[0])
