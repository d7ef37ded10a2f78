"""The nightly member job, run by the real SAQ worker: profiles not confirmed for 12 months get flagged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.components import members
from app.db import fetch
from tests.conftest import actor, run_job_in_worker


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
