"""Login, lock-out, session rotation, idle and absolute timeouts, logout and CSRF."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import pytest

from app.components.auth import staff as auth
from app.db import fetch
from app.redis import get_redis
from tests.conftest import csrf_token, login


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[float], None]]:
    """Move the clocks of the session code forward by some seconds (time travel instead of sleeping)."""
    offset = 0.0
    real_monotonic, real_now = auth._monotonic, auth._now
    monkeypatch.setattr(auth, "_monotonic", lambda: real_monotonic() + offset)
    monkeypatch.setattr(auth, "_now", lambda: real_now() + offset)

    def advance(seconds: float) -> None:
        nonlocal offset
        offset += seconds

    yield advance
    auth.forget_cached_sessions()  # entries stamped with the moved clock must not outlive it


async def _is_logged_in(client) -> bool:
    response = await client.get("/counter", follow_redirects=False)
    assert response.status_code in (200, 303)
    return response.status_code == 200


def _session_key(client) -> str:
    return "ys:sess:" + hashlib.sha256(client.cookies["ys_session"].encode()).hexdigest()


async def _post_login(client, username: str, password: str, token: str | None = None):
    token = token or await csrf_token(client)
    return await client.post(
        "/login", data={"_csrf_token": token, "username": username, "password": password}, follow_redirects=False
    )


async def test_login_sends_each_role_to_its_surface(client) -> None:
    response = await _post_login(client, "pharmacist", "yaoshi123")
    assert response.status_code == 303 and response.headers["location"] == "/counter"
    page = await client.get("/counter")
    assert page.status_code == 200 and "王药师" in page.text
    client.cookies.clear()
    response = await _post_login(client, "analyst", "yaoshi123")
    assert response.headers["location"] == "/manager"


async def test_wrong_password_and_unknown_user_get_the_same_message(client) -> None:
    wrong = await _post_login(client, "pharmacist", "nope-nope")
    unknown = await _post_login(client, "nobody-here", "nope-nope")
    assert wrong.status_code == unknown.status_code == 422
    assert 'data-testid="login-error"' in wrong.text
    assert _error(wrong.text) == _error(unknown.text)
    assert 'value="pharmacist"' in wrong.text  # what was typed is kept


def _error(html: str) -> str:
    start = html.index('data-testid="login-error">') + len('data-testid="login-error">')
    return html[start : html.index("<", start)]


async def test_five_failures_lock_the_username_for_this_address(client) -> None:
    for _ in range(5):
        assert (await _post_login(client, "clerk", "wrong-password")).status_code == 422
    locked = await _post_login(client, "clerk", "yaoshi123")
    assert locked.status_code == 429
    assert "10" in _error(locked.text) or "9" in _error(locked.text)  # minutes to wait
    # Another user from the same address is not affected.
    assert (await _post_login(client, "service", "yaoshi123")).status_code == 303


async def test_session_id_is_rotated_at_login(client) -> None:
    await login(client, "pharmacist")
    first = client.cookies["ys_session"]
    await login(client, "pharmacist")
    second = client.cookies["ys_session"]
    assert first != second
    client.cookies.set("ys_session", first)
    response = await client.get("/counter", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_logout_ends_the_session(client) -> None:
    token = await login(client, "pharmacist")
    old = client.cookies["ys_session"]
    assert await _is_logged_in(client)  # the session is now in this process's cache too
    response = await client.post("/logout", headers={"x-csrftoken": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    client.cookies.set("ys_session", old)
    # At once, with no clock moved: logout drops the cached session of the process that handled it.
    assert (await client.get("/counter", follow_redirects=False)).status_code == 303


async def test_idle_timeout_slides_with_activity_and_expires(client, later) -> None:
    await login(client, "pharmacist")
    key = _session_key(client)
    redis = get_redis()
    await redis.expire(key, 30)
    later(auth.SESSION_CACHE_SECONDS)  # past what this process remembers, so the request reads Redis
    assert (await client.get("/counter")).status_code == 200
    assert 890 < await redis.ttl(key) <= 900  # 15 minutes again after activity
    await redis.delete(key)  # what the idle TTL does when it runs out
    later(auth.SESSION_CACHE_SECONDS)
    response = await client.get("/counter", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/counter"


async def test_a_busy_session_slides_its_idle_expiry_only_once_a_minute(client, later) -> None:
    await login(client, "pharmacist")
    key = _session_key(client)
    redis = get_redis()
    await redis.expire(key, 900 - auth.SLIDE_AFTER_SECONDS + 20)  # 40 s of idle time used: not worth a write
    later(auth.SESSION_CACHE_SECONDS)
    assert await _is_logged_in(client)
    assert await redis.ttl(key) <= 900 - auth.SLIDE_AFTER_SECONDS + 20
    await redis.expire(key, 900 - auth.SLIDE_AFTER_SECONDS - 20)  # 80 s used: slide
    later(auth.SESSION_CACHE_SECONDS)
    assert await _is_logged_in(client)
    assert await redis.ttl(key) > 900 - auth.SLIDE_AFTER_SECONDS


async def test_requests_within_the_cache_time_do_not_touch_redis(client, later) -> None:
    await login(client, "pharmacist")
    key = _session_key(client)
    redis = get_redis()
    assert await _is_logged_in(client)
    await redis.hset(key, "display_name", "Renamed")  # a change only a Redis read would see
    assert "Renamed" not in (await client.get("/counter")).text
    later(auth.SESSION_CACHE_SECONDS)
    assert "Renamed" in (await client.get("/counter")).text


async def test_absolute_lifetime_of_twelve_hours(client, later) -> None:
    await login(client, "pharmacist")
    key = _session_key(client)
    created = float(await get_redis().hget(key, "created"))
    await get_redis().hset(key, "created", created - 12 * 3600 - 1)
    later(auth.SESSION_CACHE_SECONDS)
    response = await client.get("/counter", follow_redirects=False)
    assert response.status_code == 303
    assert not await get_redis().exists(key)


async def test_absolute_lifetime_holds_for_a_session_this_process_remembers(client, later) -> None:
    await login(client, "pharmacist")
    key = _session_key(client)
    await get_redis().expire(key, 24 * 3600)  # kept busy all day: the idle timeout never ran out
    assert await _is_logged_in(client)  # now cached in this process
    later(12 * 3600 + 1)
    assert not await _is_logged_in(client)
    assert not await get_redis().exists(key)


async def test_logout_elsewhere_ends_the_session_here_within_the_cache_time(client, later) -> None:
    await login(client, "pharmacist")
    assert await _is_logged_in(client)  # cached in this process
    # Another web process handles the logout: it deletes the session in Redis, not in this process's memory.
    await get_redis().delete(_session_key(client))
    later(auth.SESSION_CACHE_SECONDS)
    assert not await _is_logged_in(client)


async def test_ending_all_sessions_of_a_staff_member_is_immediate_in_this_process(client, staff_ids) -> None:
    await login(client, "pharmacist")
    assert await _is_logged_in(client)  # cached
    assert await auth.end_all_sessions(staff_ids["pharmacist"]) == 1  # password or role change, deactivation
    assert not await _is_logged_in(client)  # no clock moved: the cache was dropped at once


async def test_htmx_request_without_session_is_sent_to_login(client) -> None:
    response = await client.post("/counter/lookup", data={"code": "1"}, headers={"HX-Request": "true"})
    assert response.status_code in (401, 403)
    if response.status_code == 401:
        assert response.headers["HX-Redirect"].startswith("/login")


async def test_unsafe_requests_need_the_csrf_token(client) -> None:
    await login(client, "pharmacist")
    refused = await client.post("/counter/lookup", data={"code": "8000000011"}, headers={"HX-Request": "true"})
    assert refused.status_code == 403
    token = await csrf_token(client, "/counter")
    accepted = await client.post(
        "/counter/lookup", data={"code": "8000000011"}, headers={"HX-Request": "true", "x-csrftoken": token}
    )
    assert accepted.status_code == 404  # no such member, but the request was let through


async def test_login_is_audited_and_deactivated_staff_cannot_log_in(client) -> None:
    await login(client, "service")
    rows = await fetch("SELECT action, username FROM audit_event WHERE action = 'auth.login'")
    assert rows == [{"action": "auth.login", "username": "service"}]
    await fetch("UPDATE staff SET active = {} WHERE username = 'service'", False)
    try:
        client.cookies.clear()
        assert (await _post_login(client, "service", "yaoshi123")).status_code == 422
    finally:
        await fetch("UPDATE staff SET active = {} WHERE username = 'service'", True)


async def test_open_redirect_is_refused(client) -> None:
    token = await csrf_token(client)
    response = await client.post(
        "/login",
        data={"_csrf_token": token, "username": "pharmacist", "password": "yaoshi123", "next": "//evil.example"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/counter"


async def test_a_revoked_token_stops_working_within_the_cache_time(client, later) -> None:
    from tests.conftest import api_headers

    headers = await api_headers()
    assert (await client.get("/api/v1/members", params={"phone": "13500009999"}, headers=headers)).status_code == 200
    # Revoked by another process (the CLI, an admin page): this process trusts what it read for a moment only.
    await fetch("UPDATE api_token SET revoked = {}", True)
    later(auth.SESSION_CACHE_SECONDS)
    assert (await client.get("/api/v1/members", params={"phone": "13500009999"}, headers=headers)).status_code == 401


async def test_a_deactivated_account_loses_its_token_at_once_where_its_sessions_were_ended(client, staff_ids) -> None:
    from tests.conftest import api_headers

    headers = await api_headers()
    assert (
        await client.get("/api/v1/members", params={"phone": "13500009999"}, headers=headers)
    ).status_code == 200  # now cached
    await fetch("UPDATE staff SET active = {} WHERE id = {}", False, staff_ids["pharmacist"])
    try:
        await auth.end_all_sessions(staff_ids["pharmacist"])
        gone = await client.get("/api/v1/members", params={"phone": "13500009999"}, headers=headers)
        assert gone.status_code == 401
    finally:  # the demo staff outlive the test
        await fetch("UPDATE staff SET active = {} WHERE id = {}", True, staff_ids["pharmacist"])
