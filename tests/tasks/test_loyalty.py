"""Loyalty jobs through the real worker and Redis: nightly expiry and the yearly tier review, each idempotent."""

from __future__ import annotations

from datetime import timedelta

from app.components import loyalty, members
from app.components.core import clock
from app.db import fetch, transaction
from tests.conftest import actor, run_job_in_worker


async def _ledger() -> list[tuple]:
    rows = await fetch("SELECT member, kind, points, key FROM points_entry ORDER BY key")
    return [(r["member"], r["kind"], r["points"], r["key"]) for r in rows]


async def _member(name: str) -> int:
    view = await members.register(members.NewMember(name=name), await actor())
    return await members.member_id(view.member_no)


async def test_nightly_expiry_takes_old_unused_points_once() -> None:
    old, fresh = await _member("旧积分"), await _member("新积分")
    today = clock.store_today()
    async with transaction():
        await loyalty.earn(old, "S1", 50_000, today - timedelta(days=800), None, None)  # long expired
        await loyalty.redeem(old, 100, "S2", None, None)
        # Today's points: 200 and 100, or more on the chain's member day (the 8th of each month).
        kept = await loyalty.earn(old, "S3", 20_000, today, None, None)
        fresh_points = await loyalty.earn(fresh, "S4", 10_000, today, None, None)
    assert kept >= 200 and fresh_points >= 100
    await run_job_in_worker("expire_points")
    after_first = await _ledger()
    assert await loyalty.balance(old) == kept  # 500 earned − 100 redeemed → 400 expired; today's stay
    assert await loyalty.balance(fresh) == fresh_points
    await run_job_in_worker("expire_points")
    assert await _ledger() == after_first
    assert await loyalty.check_balances() == []


async def test_tier_review_downgrades_once_and_a_second_run_changes_nothing() -> None:
    idle = await _member("沉睡会员")
    today = clock.store_today()
    async with transaction():
        await loyalty.earn(idle, "S1", 1_000, today, None, None)
    await fetch(
        "UPDATE member_loyalty SET tier = 'gold', reviewed_on = {} WHERE member = {}",
        today - timedelta(days=800),
        idle,
    )
    await run_job_in_worker("review_tiers")
    assert await loyalty.tier_of(idle) == "regular"
    await fetch("UPDATE member_loyalty SET tier = 'gold' WHERE member = {}", idle)  # e.g. upgraded since
    await run_job_in_worker("review_tiers")
    assert await loyalty.tier_of(idle) == "gold"
