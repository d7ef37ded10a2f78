"""Tiers: upgraded at once by rolling spend, reviewed yearly by a set-based job, the review date configurable."""

from __future__ import annotations

from datetime import date

import pytest

from app.components import loyalty
from app.components.loyalty import DEFAULT_RULES, LoyaltyRules
from app.db import fetch
from tests.components.loyalty.loyalty_data import _earn, _member, _redeem
from tests.components.sales.sale_data import past_sale
from tests.conftest import actor


@pytest.mark.parametrize(
    ("fen", "tier", "on", "points"),
    [
        (12_345, "regular", date(2026, 3, 15), 123),  # ¥123.45 → 123 points, rounded down
        (12_345, "regular", date(2026, 3, 8), 246),  # member day ×2
        (10_000, "silver", date(2026, 3, 15), 120),
        (10_000, "gold", date(2026, 3, 8), 300),  # ×2 × ×1.5
        (10_050, "silver", date(2026, 3, 15), 120),  # 100.5 × 1.2 = 120.6 → 120
        (10_000, "diamond", date(2026, 3, 8), 400),
        (99, "diamond", date(2026, 3, 15), 1),
        (0, "diamond", date(2026, 3, 8), 0),
        (-500, "regular", date(2026, 3, 15), 0),
    ],
)
def test_points_multiply_rate_member_day_and_tier_and_round_down(fen: int, tier: str, on: date, points: int) -> None:
    assert loyalty.points_for(fen, DEFAULT_RULES, tier, on) == points


async def test_earning_upgrades_the_tier_at_once_from_rolling_spend() -> None:
    member = await _member()
    await past_sale(member, "OLD", 900_000, days_ago=400)  # outside the 12 months
    await past_sale(member, "S1", 150_000, days_ago=30)
    assert await _earn(member, "S1", 150_000, date(2026, 3, 15)) == 1500
    assert await loyalty.tier_of(member) == "regular"
    await past_sale(member, "S2", 60_000)
    assert await _earn(member, "S2", 10_000, date(2026, 3, 15)) == 120  # silver already applies to this sale
    assert await loyalty.tier_of(member) == "silver"
    await past_sale(member, "S3", 1_000)
    assert await _earn(member, "S3", 1_000, date(2026, 4, 2)) == 12  # still silver: the tier's date stays
    assert await _earn(member, "S3", 1_000, date(2026, 4, 2)) == 12  # a retry credits nothing more
    row = (await fetch("SELECT tier_since, balance FROM member_loyalty WHERE member = {}", member))[0]
    assert str(row["tier_since"]) == "2026-03-15" and row["balance"] == 1500 + 120 + 12


async def test_the_wallet_shows_points_tier_and_what_expires_soon() -> None:
    member = await _member()
    empty = await loyalty.wallet(member, date(2026, 3, 1))
    assert (empty.balance, empty.tier, empty.expiring, empty.balance_fen) == (0, "regular", [], 0)
    await _earn(member, "S1", 10_000, date(2025, 3, 10))  # 100, last day 2026-03-31
    await _earn(member, "S2", 20_000, date(2025, 4, 10))  # 200, last day 2026-04-30
    await _earn(member, "S3", 40_000, date(2025, 9, 10))  # 400, last day 2026-09-30
    await _redeem(member, 150, "S4")  # the March lot, then 50 of April's
    await fetch("UPDATE member_loyalty SET tier = 'gold' WHERE member = {}", member)
    await loyalty.save_rules(LoyaltyRules(redeem_points_per_yuan=50), await actor("admin"))
    w = await loyalty.wallet(member, date(2026, 3, 1), soon_days=60)  # soon: up to 2026-04-30
    assert (w.balance, w.tier, w.redeem_points_per_yuan) == (550, "gold", 50)
    assert w.expiring == [(date(2026, 4, 30), 150)]
    assert w.balance_fen == 1100  # 550 points at 50 a yuan
    assert (await loyalty.wallet(member, date(2026, 3, 1), soon_days=59)).expiring == []
    assert (await loyalty.wallet(member, date(2026, 5, 1), soon_days=365)).expiring == [(date(2026, 9, 30), 400)]
    on_the_last_day = await loyalty.wallet(member, date(2026, 4, 30), soon_days=0)
    assert on_the_last_day.expiring == [(date(2026, 4, 30), 150)]  # still usable today
