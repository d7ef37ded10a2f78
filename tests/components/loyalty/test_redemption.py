"""Redemption: points as a tender in whole fen and for gifts, never overdrawn, even by concurrent counters."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from app.components import loyalty
from app.components.core.errors import ValidationFailed
from app.components.loyalty import LoyaltyRules
from app.db import fetch
from app.i18n import use_language
from tests.components.loyalty.loyalty_data import _earn, _member, _redeem
from tests.conftest import actor


async def test_redeeming_pays_fen_and_cannot_overdraw() -> None:
    member = await _member()
    await _earn(member, "S1", 50_000, date(2026, 3, 15))
    assert await _redeem(member, 300, "S2") == 300  # 100 points = ¥1
    assert await _redeem(member, 300, "S2") == 300  # a retry of the same sale takes nothing more
    assert await loyalty.balance(member) == 200
    with pytest.raises(ValidationFailed) as exc:
        await _redeem(member, 201, "S3")
    assert "200" in exc.value.errors["points"]
    with pytest.raises(ValidationFailed):
        await _redeem(member, 0, "S4")
    assert await loyalty.balance(member) == 200


async def test_gifts_take_points_once_per_key() -> None:
    member = await _member()
    await _earn(member, "S1", 50_000, date(2026, 3, 15))
    assert await loyalty.redeem_gift(member, 120, "保温杯", "gift-1", await actor()) == 120
    assert await loyalty.redeem_gift(member, 120, "保温杯", "gift-1", await actor()) == 120
    assert await loyalty.balance(member) == 380


@pytest.mark.parametrize("round_", range(2))
async def test_concurrent_redemptions_never_take_the_balance_below_zero(round_: int) -> None:
    member = await _member()
    await _earn(member, "S1", 50_000, date(2026, 3, 15))  # 500 points

    async def attempt(i: int) -> bool:
        try:
            await _redeem(member, 200, f"R{round_}-{i}")
            return True
        except ValidationFailed:
            return False

    results = await asyncio.gather(*(attempt(i) for i in range(8)))
    assert sum(results) == 2
    assert await loyalty.balance(member) == 100
    assert await loyalty.check_balances() == []


async def test_redeeming_in_steps_and_the_whole_balance() -> None:
    member = await _member()
    await _earn(member, "S1", 50_000, date(2026, 3, 15))  # 500
    await loyalty.save_rules(LoyaltyRules(redeem_points_per_yuan=200), await actor("admin"))
    assert await _redeem(member, 300, "S2") == 150  # 200 points a yuan: 300 points pay ¥1.50
    assert await _redeem(member, 300, "S2") == 150  # the retry answers the same fen
    with pytest.raises(ValidationFailed) as exc, use_language("en"):
        await _redeem(member, 3, "S3")  # 1.5 fen
    assert exc.value.errors == {"points": "Redeem points in steps of 2."}
    await loyalty.save_rules(LoyaltyRules(redeem_points_per_yuan=10_000), await actor("admin"))
    with pytest.raises(ValidationFailed) as exc, use_language("en"):
        await _redeem(member, 50, "S4")
    assert exc.value.errors == {"points": "Redeem points in steps of 100."}
    assert await _redeem(member, 200, "S5") == 2  # the whole balance
    assert await loyalty.balance(member) == 0


async def test_a_gift_takes_one_point_or_more_is_audited_and_names_it_whole() -> None:
    member = await _member()
    await _earn(member, "S1", 1_000, date(2026, 3, 15))  # 10
    clerk = await actor("clerk")
    assert await loyalty.redeem_gift(member, 1, "贴纸", "g1", clerk) == 1
    name = "保" * 40
    assert await loyalty.redeem_gift(member, 3, name, "g2", clerk) == 3
    with pytest.raises(ValidationFailed) as exc, use_language("en"):
        await loyalty.redeem_gift(member, 1, name + "杯", "g3", clerk)
    assert exc.value.errors == {"gift": "Name the gift (at most 40 characters)."}
    with pytest.raises(ValidationFailed):
        await loyalty.redeem_gift(member, 1, "  ", "g4", clerk)
    rows = await fetch("SELECT ref, store, staff FROM points_entry WHERE kind = 'gift' ORDER BY id")
    assert [r["ref"] for r in rows] == ["贴纸", name]
    assert {(r["store"], r["staff"]) for r in rows} == {(clerk.store_id, clerk.id)}
    audited = await fetch("SELECT detail FROM audit_event WHERE action = {} ORDER BY id", loyalty.GIFT_REDEEM)
    assert [a["detail"] for a in audited] == ["贴纸: 1", f"{name}: 3"]
    assert await loyalty.balance(member) == 6
