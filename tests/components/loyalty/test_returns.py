"""Reversal on returns: redeemed points restored, earned ones taken back, never below zero, once per return."""

from __future__ import annotations

from datetime import date

from app.components import loyalty
from app.components.core import clock
from app.db import as_date, fetch, transaction
from tests.components.loyalty.loyalty_data import _earn, _member, _redeem
from tests.conftest import actor


async def test_a_return_restores_redeemed_points_and_reverses_earned_ones() -> None:
    member = await _member()
    await _earn(member, "S1", 30_000, date(2026, 3, 15))  # 300
    await _redeem(member, 100, "S2")
    await _earn(member, "S2", 20_000, date(2026, 4, 15))  # 200 → balance 400
    async with transaction():
        result = await loyalty.reverse_for_return(member, "S2", "T1", 200, 100, None, await actor())
    assert result == (200, 100)
    async with transaction():  # a retry changes nothing
        assert await loyalty.reverse_for_return(member, "S2", "T1", 200, 100, None, await actor()) == (200, 100)
    assert await loyalty.balance(member) == 300
    rows = {
        r["kind"]: r for r in await fetch("SELECT kind, points, expires_on FROM points_entry WHERE member = {}", member)
    }
    assert as_date(rows["reverse"]["expires_on"]) == date(2027, 4, 30)  # the sale's own lot
    assert as_date(rows["restore"]["expires_on"]) == loyalty.expiry_for(clock.store_today())
    assert await loyalty.check_balances() == []


async def test_a_return_never_takes_the_balance_below_zero() -> None:
    member = await _member()
    await _earn(member, "S1", 30_000, date(2026, 3, 15))  # 300
    await _redeem(member, 250, "S9")
    async with transaction():
        reversed_, restored = await loyalty.reverse_for_return(member, "S1", "T1", 300, 0, None, await actor())
    assert (reversed_, restored) == (50, 0)  # the 250 shortfall is simply not reversed
    assert await loyalty.balance(member) == 0


async def test_a_return_cannot_reverse_more_than_the_sale_earned() -> None:
    member = await _member()
    await _earn(member, "S1", 30_000, date(2026, 3, 15))
    await _earn(member, "S2", 30_000, date(2026, 3, 16))
    async with transaction():
        assert await loyalty.reverse_for_return(member, "S1", "T1", 200, 0, None, None) == (200, 0)
    async with transaction():
        assert await loyalty.reverse_for_return(member, "S1", "T2", 200, 50, None, None) == (100, 0)
    assert await loyalty.balance(member) == 300


async def test_a_retried_return_that_only_restored_or_only_reversed_changes_nothing() -> None:
    member = await _member()
    await _earn(member, "S1", 30_000, date(2026, 3, 15))  # 300
    await _redeem(member, 100, "S2")
    await _earn(member, "S2", 20_000, date(2026, 4, 15))  # 200
    for _ in range(2):
        async with transaction():
            assert await loyalty.reverse_for_return(member, "S2", "T1", 0, 60, None, None) == (0, 60)
        async with transaction():
            assert await loyalty.reverse_for_return(member, "S2", "T2", 50, 0, None, None) == (50, 0)
    kinds = [r["kind"] for r in await fetch("SELECT kind FROM points_entry WHERE ref = 'S2' ORDER BY id")]
    assert kinds == ["redeem", "earn", "restore", "reverse"]  # no zero-point entries
    async with transaction():  # never more restored than was redeemed on the sale
        assert await loyalty.reverse_for_return(member, "S2", "T3", 0, 100, None, None) == (0, 40)
    assert await loyalty.balance(member) == 300 - 100 + 200 + 60 - 50 + 40
