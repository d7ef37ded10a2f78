"""Staff authentication: passwords with lock-out, server-side sessions in Redis, API tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from app.components.auth import queries
from app.components.auth.passwords import check_password, hash_api_token, new_api_token
from app.components.core.actor import StaffUser
from app.redis import get_redis
from app.settings import get_settings

SESSION_PREFIX = "ys:sess:"
STAFF_SESSIONS_PREFIX = "ys:staff-sess:"
FAIL_PREFIX = "ys:loginfail:"

# How long a web process trusts a session it read from Redis before reading it again, and how much of the idle
# timeout may run down before a request slides it. Together they bound what the per-process cache changes:
# - logout, `end_all_sessions` (password change, deactivation, role change) end the session at once in the
#   process that ran them, and within SESSION_CACHE_SECONDS in every other web process;
# - the idle timeout ends a session between `session_idle_seconds - SLIDE_AFTER_SECONDS - SESSION_CACHE_SECONDS`
#   and `session_idle_seconds + SESSION_CACHE_SECONDS` after its last request (15 min: 13 min 58 s to 15 min 2 s);
# - the absolute lifetime is checked on every request, cached or not.
# The gain: a logged-in request does a Redis round trip once per SESSION_CACHE_SECONDS per session and process,
# not every time (the round trip was a fifth of a counter lookup's CPU).
SESSION_CACHE_SECONDS = 2.0
SLIDE_AFTER_SECONDS = 60
_CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class LoginResult:
    """Outcome of a login attempt: a user, or a lock-out wait in seconds, or neither (bad credentials)."""

    user: StaffUser | None = None
    locked_for: int = 0


def _user_from_row(row: dict) -> StaffUser:
    return StaffUser(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        store_id=row["store_id"],
        store_code=row["store_code"],
        store_name=row["store_name"],
        store_phone=row.get("store_phone") or "",
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

    row = await queries.staff_by_username(username.strip())
    ok = await check_password(row["password_hash"] if row else None, password)
    if not ok or not row or not row["active"]:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {f"{now}:{secrets.token_hex(4)}": now})
            pipe.expire(key, window)
            await pipe.execute()
        return LoginResult()
    await redis.delete(key)
    return LoginResult(user=_user_from_row(row))


# Read the session; slide its idle expiry only when more than ARGV[2] seconds of it have run down, so a busy
# session is not rewritten on every read.
_TOUCH = """
local data = redis.call('HGETALL', KEYS[1])
if #data > 0 and redis.call('TTL', KEYS[1]) < tonumber(ARGV[1]) - tonumber(ARGV[2]) then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
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


@dataclass(slots=True)
class _Cached:
    user: StaffUser
    created: float  # wall-clock start of the session, for the absolute lifetime
    fresh_until: float  # monotonic time after which Redis is asked again


# Session key (hash of the cookie), or TOKEN_PREFIX + an API token's hash, → the user as last read by this process.
_cache: dict[str, _Cached] = {}
# The clocks of the cache and of the absolute lifetime; tests move them forward instead of sleeping.
_monotonic = time.monotonic
_now = time.time
# Bumped whenever sessions end, so a Redis read that was in flight meanwhile is not cached afterwards.
_ended = 0


def _remember(key: str, user: StaffUser, created: float) -> None:
    now = _monotonic()
    if len(_cache) >= _CACHE_LIMIT:
        for stale in [k for k, v in _cache.items() if v.fresh_until <= now]:
            del _cache[stale]
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
    _cache[key] = _Cached(user, created, now + SESSION_CACHE_SECONDS)


def _forget(key: str) -> None:
    global _ended
    _ended += 1
    _cache.pop(key, None)


def forget_cached_sessions(staff_id: int | None = None) -> None:
    """Drop this process's cached sessions (of one staff member, or all)."""
    global _ended
    _ended += 1
    if staff_id is None:
        _cache.clear()
        return
    for key in [k for k, v in _cache.items() if v.user.id == staff_id]:
        del _cache[key]


def _session_key(session_id: str) -> str:
    # Only a hash of the cookie value is a Redis key, so a leaked key list cannot be replayed as cookies.
    return SESSION_PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


async def create_session(user: StaffUser, language: str, old_session_id: str | None = None) -> str:
    """Start a session for `user` (dropping any pre-login one) and return the new cookie value."""
    settings = get_settings()
    redis = get_redis()
    session_id = secrets.token_urlsafe(32)
    key = _session_key(session_id)
    if old_session_id:
        _forget(_session_key(old_session_id))
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
                "store_phone": user.store_phone or "",
                "language": language,
                "created": time.time(),
            },
        )
        pipe.expire(key, settings.session_idle_seconds)
        pipe.sadd(f"{STAFF_SESSIONS_PREFIX}{user.id}", key)
        await pipe.execute()
    return session_id


async def load_session(session_id: str, client_addr: str = "") -> StaffUser | None:
    """The user of a live session (carrying `client_addr`, channel "web"), sliding its idle timeout; None when idle,
    too old or unknown.

    Served from this process's cache for up to SESSION_CACHE_SECONDS after Redis was last read (see the bounds
    at the top of this module); otherwise one round trip reads the session and slides its idle expiry.
    """
    settings = get_settings()
    key = _session_key(session_id)
    cached = _cache.get(key)
    if cached is not None and _monotonic() < cached.fresh_until:
        if _now() - cached.created <= settings.session_absolute_seconds:
            if cached.user.client_addr != client_addr:  # the same session from another address
                cached.user = cached.user.with_request(client_addr, "web")
            return cached.user
        del _cache[key]
        await get_redis().delete(key)
        return None
    ended = _ended
    flat = await _touch_script()(keys=[key], args=[settings.session_idle_seconds, SLIDE_AFTER_SECONDS])
    data = dict(zip(flat[::2], flat[1::2], strict=True))
    if not data:
        _cache.pop(key, None)
        return None
    created = float(data["created"])
    if _now() - created > settings.session_absolute_seconds:
        _cache.pop(key, None)
        await get_redis().delete(key)
        return None
    user = StaffUser(
        id=int(data["staff_id"]),
        username=data["username"],
        display_name=data["display_name"],
        role=data["role"],
        store_id=int(data["store_id"]) if data["store_id"] else None,
        store_code=data["store_code"] or None,
        store_name=data["store_name"] or None,
        store_phone=data.get("store_phone") or "",
        session_key=key,
        language=data.get("language"),
        client_addr=client_addr,
        channel="web",
    )
    if ended == _ended:
        _remember(key, user, created)
    return user


async def set_session_language(user: StaffUser, language: str) -> None:
    """Remember the UI language in the session."""
    if user.session_key:
        await get_redis().hset(user.session_key, "language", language)
        cached = _cache.get(user.session_key)
        if cached is not None:
            cached.user = replace(cached.user, language=language)


async def end_session(session_id: str) -> None:
    """Log out: the session is gone at once (other web processes: within SESSION_CACHE_SECONDS)."""
    key = _session_key(session_id)
    _forget(key)
    await get_redis().delete(key)


async def end_all_sessions(staff_id: int) -> int:
    """Log a staff member out everywhere (deactivation, password or role change).

    At once in this process; other web processes stop accepting the sessions within SESSION_CACHE_SECONDS.
    """
    forget_cached_sessions(staff_id)
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


TOKEN_PREFIX = "token:"


async def authenticate_token(token: str) -> StaffUser | None:
    """The active staff user behind an API bearer token.

    Like a session, a token read from the database is trusted by this process for SESSION_CACHE_SECONDS: a
    revoked token or a deactivated account stops working within that bound (at once where `end_all_sessions` ran).
    """
    digest = hash_api_token(token)
    key = TOKEN_PREFIX + digest
    cached = _cache.get(key)
    if cached is not None and _monotonic() < cached.fresh_until:
        return cached.user
    ended = _ended
    row = await queries.staff_by_token(digest)
    if not row or not row["active"]:
        _cache.pop(key, None)
        return None
    user = _user_from_row(row)
    if ended == _ended:
        _remember(key, user, _now())
    return user


async def staff_exists(username: str) -> bool:
    """Whether a staff row with this username exists (active or not)."""
    return await queries.staff_by_username(username.strip()) is not None


async def issue_api_token(username: str, label: str = "") -> str | None:
    """A new API token for an active staff member, returned once (only its hash is kept); None if no such user."""
    row = await queries.staff_by_username(username.strip())
    if row is None or not row["active"]:
        return None
    value, digest = new_api_token()
    await queries.insert_api_token(row["id"], digest, label, datetime.now(UTC))
    return value
