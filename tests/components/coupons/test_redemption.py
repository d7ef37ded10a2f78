"""Redemption and restoration: a coupon is redeemed once, even by ten counters; a return restores it."""

from __future__ import annotations

import asyncio

import pytest

from app.components import coupons
from app.components.core.errors import ValidationFailed
from app.db import fetch, transaction
from tests.components.coupons.coupon_data import LINES, TODAY, _member, _printed, _template
from tests.conftest import actor


async def test_redeeming_twice_fails_and_a_retry_of_the_same_sale_does_not() -> None:
    code = await _printed("ONE")
    async with transaction():
        await coupons.redeem_coupons([code], None, 41, None)
    async with transaction():
        await coupons.redeem_coupons([code], None, 41, None)
    with pytest.raises(ValidationFailed) as exc:
        async with transaction():
            await coupons.redeem_coupons([code], None, 42, None)
    assert "coupon" in exc.value.errors


@pytest.mark.parametrize("round_", range(2))
async def test_ten_counters_redeeming_one_printed_coupon_exactly_one_wins(round_: int) -> None:
    code = await _printed(f"RACE{round_}")

    async def attempt(sale_id: int) -> bool:
        try:
            async with transaction():
                await coupons.redeem_coupons([code], None, sale_id, None)
            return True
        except ValidationFailed:
            return False

    results = await asyncio.gather(*(attempt(100 + i) for i in range(10)))
    assert sum(results) == 1
    rows = await fetch("SELECT status FROM coupon WHERE code = {}", code)
    assert rows[0]["status"] == "redeemed"


async def test_a_return_restores_coupons_whose_template_says_so() -> None:
    keep = await _printed("KEEP")
    gone = await _printed("GONE", restore_on_return="")
    async with transaction():
        await coupons.redeem_coupons([keep, gone], None, 7, None)
    async with transaction():
        assert await coupons.restore_coupons(7, None) == [keep]
    result = await coupons.evaluate([keep, gone], None, LINES, TODAY)
    assert result.codes == [keep] and gone in result.errors


async def test_the_per_member_limit_counts_redeemed_printed_codes() -> None:
    member = await _member()
    await _template("LIM", per_member_limit="1", stackable="1")
    first, second = (c.code for c in await coupons.print_codes("LIM", 2, await actor("admin")))
    both = await coupons.evaluate([first, second], member, LINES, TODAY)
    assert both.codes == [first] and second in both.errors
    async with transaction():
        await coupons.redeem_coupons([first], member, 9, None)
    later = await coupons.evaluate([second], member, LINES, TODAY)
    assert second in later.errors
