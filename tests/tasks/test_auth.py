"""The session purge, run by the real SAQ worker against the real Redis: sessions past their lifetime are gone."""

from __future__ import annotations

import hashlib
import time

from app.redis import get_redis
from tests.conftest import login, run_job_in_worker


async def test_session_purge_job_removes_sessions_past_their_lifetime(client) -> None:
    await login(client, "pharmacist", tablet=False)  # no request after the login: its session is not cached
    key = "ys:sess:" + hashlib.sha256(client.cookies["ys_session"].encode()).hexdigest()
    await get_redis().hset(key, "created", time.time() - 13 * 3600)
    await get_redis().persist(key)
    await run_job_in_worker("purge_sessions")
    assert not await get_redis().exists(key)
    assert (await client.get("/counter", follow_redirects=False)).status_code == 303
