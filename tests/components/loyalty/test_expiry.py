"""Expiry lots (FIFO): points last to the end of the 12th month; the job takes only what is left of old lots."""

from __future__ import annotations

from datetime import date

import pytest

from app.components import loyalty
from app.db import transaction
from tests.components.loyalty.loyalty_data import _earn, _member, _redeem


@pytest.mark.parametrize(
    ("earned", "last_day"),
    [
        (date(2026, 3, 15), date(2027, 3, 31)),
        (date(2026, 1, 1), date(2027, 1, 31)),
        (date(2026, 12, 31), date(2027, 12, 31)),
        (date(2027, 2, 10), date(2028, 2, 29)),
    ],
)
def test_points_expire_at_the_end_of_the_twelfth_month_after_earning(earned: date, last_day: date) -> None:
    assert loyalty.expiry_for(earned) == last_day


async def test_expiry_takes_only_unused_points_of_old_lots_and_runs_once() -> None:
    member = await _member()
    other = await _member("其他")
    await _earn(member, "S1", 30_000, date(2025, 1, 10))  # 300, last day 2026-01-31
    await _earn(member, "S2", 20_000, date(2025, 6, 10))  # 200, last day 2026-06-30
    await _redeem(member, 120, "S3")  # taken from the oldest lot
    await _earn(other, "S4", 10_000, date(2025, 12, 1))  # not yet expired
    assert await loyalty.expiring(member, date(2026, 1, 15)) == [(date(2026, 1, 31), 180), (date(2026, 6, 30), 200)]
    assert await loyalty.expire_points(date(2026, 2, 1)) == 1
    assert await loyalty.expire_points(date(2026, 2, 1)) == 0
    assert await loyalty.balance(member) == 200
    assert await loyalty.balance(other) == 100
    assert await loyalty.expiring(member, date(2026, 2, 1)) == [(date(2026, 6, 30), 200)]
    await _redeem(member, 50, "S5")
    assert await loyalty.expire_points(date(2026, 7, 1)) == 1
    assert await loyalty.balance(member) == 0
    assert await loyalty.expire_points(date(2026, 7, 2)) == 0
    assert await loyalty.check_balances() == []
    statement = await loyalty.statement(member, today=date(2026, 7, 2))
    assert [e["kind"] for e in statement.entries][:2] == ["expire", "redeem"]
    assert statement.balance == 0 and statement.expiring == []


async def test_a_reversed_lot_expires_only_what_is_left() -> None:
    member = await _member()
    await _earn(member, "S1", 30_000, date(2025, 1, 10))
    async with transaction():
        await loyalty.reverse_for_return(member, "S1", "T1", 100, 0, None, None)
    assert await loyalty.expire_points(date(2026, 2, 1)) == 1
    assert await loyalty.balance(member) == 0


def test_the_expiry_schedule_leaves_out_fully_used_lots() -> None:
    d1, d2, d3 = date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)
    assert loyalty.fifo_remaining([(d3, 1), (d1, 100), (d2, 50)], 150) == [(d3, 1)]
    assert loyalty.fifo_remaining([(d1, 100), (d2, 50)], 0) == [(d1, 100), (d2, 50)]
    assert loyalty.fifo_remaining([(d1, -5), (d2, 10)], 3) == [(d2, 7)]  # a lot reversed below zero gives nothing


async def test_points_used_up_leave_no_lot_in_the_schedule_and_the_last_day_still_counts() -> None:
    member = await _member()
    await _earn(member, "S1", 10_000, date(2026, 1, 10))  # 100, last day 2027-01-31
    await _earn(member, "S2", 5_000, date(2026, 2, 10))  # 50, last day 2027-02-28
    await _redeem(member, 100, "S3")
    assert await loyalty.expiring(member, date(2026, 3, 1)) == [(date(2027, 2, 28), 50)]
    assert await loyalty.expiring(member, date(2027, 2, 28)) == [(date(2027, 2, 28), 50)]  # its last day
    assert await loyalty.expiring(member, date(2027, 3, 1)) == []
