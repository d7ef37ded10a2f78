"""Earning points on a sale: the eligible amount, rate x member day x tier, once per sale."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from app.components import loyalty
from app.components.loyalty import DEFAULT_RULES, EligibleLine, LoyaltyRules
from app.db import as_date, fetch
from tests.components.loyalty.loyalty_data import _earn, _member
from tests.components.sales.sale_data import past_sale


def test_eligible_amount_skips_excluded_products_and_rx_only_when_configured() -> None:
    lines = [EligibleLine(1000), EligibleLine(2000, rx=True), EligibleLine(500, points_excluded=True)]
    assert loyalty.eligible_amount(lines) == 3000
    assert loyalty.eligible_amount(lines, LoyaltyRules(exclude_rx=True)) == 1000


async def test_earning_is_idempotent_by_sale_and_the_cache_follows_the_ledger() -> None:
    member = await _member()
    assert await _earn(member, "S1", 10_000, date(2026, 3, 15)) == 100
    assert await _earn(member, "S1", 10_000, date(2026, 3, 15)) == 100
    assert await loyalty.balance(member) == 100
    rows = await fetch("SELECT kind, points, expires_on FROM points_entry WHERE member = {}", member)
    assert len(rows) == 1 and rows[0]["kind"] == "earn"
    assert as_date(rows[0]["expires_on"]) == date(2027, 3, 31)
    assert await loyalty.check_balances() == []


async def test_the_yearly_review_downgrades_set_based_and_only_once_a_year() -> None:
    spender, idle = await _member("常客"), await _member("沉睡")
    await past_sale(spender, "S1", 600_000, days_ago=10)
    await _earn(spender, "S1", 1000, date(2026, 3, 15))
    await _earn(idle, "S0", 1000, date(2026, 3, 15))
    last_year = date(2025, 6, 1)
    await fetch("UPDATE member_loyalty SET tier = 'diamond', reviewed_on = {}", last_year)
    today = date(2026, 1, 2)
    assert await loyalty.review_tiers(today) == 2
    tiers = {r["member"]: r["tier"] for r in await fetch("SELECT member, tier FROM member_loyalty")}
    assert tiers == {spender: "gold", idle: "regular"}
    await fetch("UPDATE member_loyalty SET tier = 'diamond' WHERE member = {}", idle)
    assert await loyalty.review_tiers(today) == 0  # already reviewed this year
    assert await loyalty.tier_of(idle) == "diamond"


def test_points_round_down_even_for_large_and_tiny_amounts() -> None:
    assert loyalty.points_for(999_999, DEFAULT_RULES, "regular", date(2026, 3, 15)) == 9_999  # ¥9,999.99
    generous = LoyaltyRules(points_per_yuan=100)
    assert loyalty.points_for(1, generous, "regular", date(2026, 3, 15)) == 1  # a fen at 100 points per yuan
    assert loyalty.points_for(0, generous, "diamond", date(2026, 3, 8)) == 0
    no_day = LoyaltyRules(member_day=0)
    assert loyalty.points_for(10_000, no_day, "regular", date(2026, 3, 8)) == 100  # day 0: no member day


def test_a_line_that_is_free_or_credited_earns_nothing_and_takes_nothing() -> None:
    assert loyalty.eligible_amount([EligibleLine(1000), EligibleLine(0), EligibleLine(-200)]) == 1000
    assert loyalty.eligible_amount([EligibleLine(0)]) == 0


async def test_a_sale_earning_no_points_writes_no_entry_and_one_point_is_credited() -> None:
    member = await _member()
    assert await _earn(member, "S1", 99, date(2026, 3, 15)) == 0  # ¥0.99
    assert await fetch("SELECT id FROM points_entry WHERE member = {}", member) == []
    assert await _earn(member, "S2", 100, date(2026, 3, 15)) == 1
    assert await loyalty.balance(member) == 1 and await loyalty.check_balances() == []


async def test_an_upgrade_on_a_sale_without_points_keeps_the_cached_balance() -> None:
    member = await _member()
    await _earn(member, "S0", 1_000, date(2026, 3, 1))  # 10 points
    await past_sale(member, "S1", 250_000, days_ago=1)
    assert await _earn(member, "S1", 0, date(2026, 3, 15)) == 0  # e.g. only points-excluded items
    assert await loyalty.tier_of(member) == "silver"
    assert await loyalty.balance(member) == 10 and await loyalty.check_balances() == []


async def test_the_rolling_spend_for_an_upgrade_is_the_last_365_days() -> None:
    inside, outside = await _member("一年内"), await _member("一年外")
    await past_sale(inside, "A1", 200_000, days_ago=364.9)
    await past_sale(outside, "B1", 200_000, days_ago=365.1)
    assert await _earn(inside, "A2", 100, date(2026, 3, 15)) == 1
    assert await _earn(outside, "B2", 100, date(2026, 3, 15)) == 1
    assert (await loyalty.tier_of(inside), await loyalty.tier_of(outside)) == ("silver", "regular")


async def test_the_yearly_review_counts_spend_of_exactly_365_days_and_records_its_day() -> None:
    member = await _member()
    sale = await past_sale(member, "S1", 600_000, days_ago=30)
    await _earn(member, "S0", 100, date(2026, 3, 15))  # gold at once
    await fetch("UPDATE member_loyalty SET tier = 'regular', reviewed_on = NULL WHERE member = {}", member)
    created = (await fetch("SELECT created_at FROM sale WHERE id = {}", sale))[0]["created_at"]
    created = created if isinstance(created, datetime) else datetime.fromisoformat(str(created))
    created = created if created.tzinfo else created.replace(tzinfo=UTC)
    today = date(2031, 1, 5)
    assert await loyalty.review_tiers(today, now=created + timedelta(days=365)) == 1
    row = (await fetch("SELECT tier, reviewed_on FROM member_loyalty WHERE member = {}", member))[0]
    assert (row["tier"], as_date(row["reviewed_on"])) == ("gold", today)
    await fetch("UPDATE member_loyalty SET tier = 'regular', reviewed_on = NULL WHERE member = {}", member)
    assert await loyalty.review_tiers(today, now=created + timedelta(days=365, seconds=1)) == 0  # a year and a second
    assert await loyalty.tier_of(member) == "regular"
