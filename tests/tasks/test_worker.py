"""The SAQ worker against the real Redis: scheduled jobs run and change what users see."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

from app.components import members
from app.db import fetch
from app.redis import get_redis
from app.tasks import worker as tasks
from tests.conftest import actor, login, run_job_in_worker


async def test_nightly_job_flags_profiles_not_confirmed_for_twelve_months() -> None:
    pharmacist = await actor()
    stale = await members.register(members.NewMember(name="久未核对"), pharmacist)
    fresh = await members.register(members.NewMember(name="刚核对"), pharmacist)
    old = datetime.now(UTC) - timedelta(days=400)
    await fetch("UPDATE member SET verified_at = {}, created_at = {} WHERE member_no = {}", old, old, stale.member_no)
    await run_job_in_worker("flag_unverified_profiles")
    rows = await fetch("SELECT member_no, verification_due FROM member ORDER BY member_no")
    flags = {r["member_no"]: bool(r["verification_due"]) for r in rows}
    assert flags == {stale.member_no: True, fresh.member_no: False}


async def test_session_purge_job_removes_sessions_past_their_lifetime(client) -> None:
    await login(client, "pharmacist", tablet=False)  # no request after the login: its session is not cached
    key = "ys:sess:" + hashlib.sha256(client.cookies["ys_session"].encode()).hexdigest()
    await get_redis().hset(key, "created", time.time() - 13 * 3600)
    await get_redis().persist(key)
    await run_job_in_worker("purge_sessions")
    assert not await get_redis().exists(key)
    assert (await client.get("/counter", follow_redirects=False)).status_code == 303


def test_the_schedule_names_both_jobs() -> None:
    names = {job.function.__name__ for job in tasks.CRON_JOBS}
    assert names == {"purge_sessions", "flag_unverified_profiles", "expire_points", "review_tiers"}
