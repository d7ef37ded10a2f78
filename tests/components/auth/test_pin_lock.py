"""Approval PINs: five refused tries in a row lock an approver's PIN for 15 minutes, in the database; every refusal
is audited with who typed it, which approver, the store and the time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from app.components import sales
from app.components.auth import pin_lock
from app.components.core.errors import ValidationFailed
from app.components.core.roles import PHARMACIST_ROLES, STOCK_ROLES
from app.components.seed import DEMO_PIN
from app.db import fetch
from app.i18n import use_language
from app.redis import get_redis
from tests.conftest import actor


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The lock's clock, moved by the test (no sleeping): `clock[0]` is now."""
    now = [datetime(2026, 12, 1, 2, 0, tzinfo=UTC)]  # 10:00 in Shanghai
    monkeypatch.setattr(pin_lock, "now", lambda: now[0])
    return now


async def _refused(clerk, username: str, pin: str, roles=PHARMACIST_ROLES) -> str:
    with pytest.raises(ValidationFailed) as refused:
        await sales.verify_pin(clerk, username, pin, roles)
    return refused.value.errors["pin"]


async def _audits(action: str = pin_lock.PIN_FAILED) -> list[dict]:
    return await fetch(
        "SELECT username, role, store, at, detail FROM audit_event WHERE action = {} ORDER BY id", action
    )


async def test_eight_wrong_pins_then_the_right_one_is_refused_until_the_lock_ends(clock, staff_ids) -> None:
    clerk = await actor("clerk")
    with use_language("en"):
        for _ in range(4):
            assert "Wrong user or PIN" in await _refused(clerk, "pharmacist", "0000")
        fifth = await _refused(clerk, "pharmacist", "0000")
        assert fifth == "Too many wrong PINs: 王药师's PIN is locked until 10:15."
        for _ in range(3):  # three more wrong ones: still locked, the PIN is not even checked
            assert "locked until 10:15" in await _refused(clerk, "pharmacist", "1111")
        # The right PIN is refused while locked, saying until when.
        assert "locked until 10:15" in await _refused(clerk, "pharmacist", DEMO_PIN)

    clock[0] += timedelta(minutes=14, seconds=59)
    assert "10:15" in await _refused(clerk, "pharmacist", DEMO_PIN)
    clock[0] += timedelta(seconds=1)
    assert (await sales.verify_pin(clerk, "pharmacist", DEMO_PIN)).id == staff_ids["pharmacist"]


async def test_every_refusal_is_audited_with_who_typed_which_approver_the_store_and_the_time(clock) -> None:
    clerk = await actor("clerk")
    for _ in range(5):
        await _refused(clerk, "pharmacist", "0000")
    await _refused(clerk, "pharmacist", DEMO_PIN)  # while locked
    await _refused(clerk, "nobody-here", DEMO_PIN)  # no such approver
    rows = await _audits()
    assert len(rows) == 7
    assert {(r["username"], r["role"], r["store"]) for r in rows} == {("clerk", "clerk", clerk.store_id)}
    assert all(r["at"] is not None for r in rows)
    assert all("approver pharmacist" in r["detail"] for r in rows[:6])
    assert [r["detail"].endswith(f"try {n} of 5") for n, r in enumerate(rows[:5], start=1)] == [True] * 5
    assert "wrong PIN" in rows[0]["detail"] and "locked until" in rows[5]["detail"]
    assert "nobody-here" in rows[6]["detail"]
    (locked,) = await _audits(pin_lock.PIN_LOCKED)
    assert locked["username"] == "clerk" and "approver pharmacist" in locked["detail"]


async def test_a_right_pin_resets_the_count(clock, staff_ids) -> None:
    clerk = await actor("clerk")
    for _ in range(4):
        await _refused(clerk, "pharmacist", "0000")
    await sales.verify_pin(clerk, "pharmacist", DEMO_PIN)
    assert (await pin_lock.lock_state(staff_ids["pharmacist"])).number == 0
    for _ in range(4):
        await _refused(clerk, "pharmacist", "0000")
    assert (await sales.verify_pin(clerk, "pharmacist", DEMO_PIN)).id == staff_ids["pharmacist"]


async def test_the_lock_is_in_the_database_not_only_in_redis(clock, staff_ids) -> None:
    clerk = await actor("clerk")
    for _ in range(5):
        await _refused(clerk, "pharmacist", "0000")
    redis = get_redis()
    keys = [k async for k in redis.scan_iter(match="ys:*", count=1000)]
    if keys:
        await redis.delete(*keys)
    state = await pin_lock.lock_state(staff_ids["pharmacist"])
    assert not state.allowed and state.locked_until == clock[0] + timedelta(minutes=15)
    with use_language("en"):
        assert "locked" in await _refused(clerk, "pharmacist", DEMO_PIN)


async def test_the_lock_is_per_approver_whoever_types(clock, staff_ids) -> None:
    clerk, other_clerk_counter = await actor("clerk"), await actor("service")
    for _ in range(3):
        await _refused(clerk, "pharmacist", "0000")
    for _ in range(2):
        await _refused(other_clerk_counter, "pharmacist", "0000")
    with use_language("en"):
        assert "locked" in await _refused(clerk, "pharmacist", DEMO_PIN)
    # Another approver is not locked by it.
    assert (await sales.verify_pin(clerk, "manager", DEMO_PIN)).id == staff_ids["manager"]


async def test_the_oversell_pin_of_a_store_manager_follows_the_same_rule(clock, staff_ids) -> None:
    clerk = await actor("clerk")
    for _ in range(5):
        await _refused(clerk, "manager", "0000", STOCK_ROLES)
    with use_language("en"):
        assert "陈店长's PIN is locked until 10:15" in await _refused(clerk, "manager", DEMO_PIN, STOCK_ROLES)
    clock[0] += timedelta(minutes=15)
    assert (await sales.verify_pin(clerk, "manager", DEMO_PIN, STOCK_ROLES)).id == staff_ids["manager"]


async def test_a_right_pin_that_may_not_approve_here_is_refused_and_counted(clock, staff_ids) -> None:
    clerk = await actor("clerk")  # SH001; pharmacist2 works in SH002
    for _ in range(4):
        await _refused(clerk, "pharmacist2", DEMO_PIN)
    with use_language("en"):
        assert "locked" in await _refused(clerk, "pharmacist2", DEMO_PIN)
    assert "another store" in (await _audits())[0]["detail"]


async def test_a_burst_of_parallel_guesses_gets_no_more_than_five_pin_checks(clock) -> None:
    clerk = await actor("clerk")
    results = await asyncio.gather(
        *(sales.verify_pin(clerk, "pharmacist", f"{n:04d}") for n in range(10)), return_exceptions=True
    )
    assert all(isinstance(r, ValidationFailed) for r in results)
    checked = [r for r in await _audits() if "wrong PIN" in r["detail"]]
    assert len(checked) == 5
    with use_language("en"):
        assert "locked" in await _refused(clerk, "pharmacist", DEMO_PIN)


async def test_an_empty_pin_is_no_try(clock, staff_ids) -> None:
    clerk = await actor("clerk")
    for _ in range(6):
        await _refused(clerk, "pharmacist", " ")
    assert (await pin_lock.lock_state(staff_ids["pharmacist"])).number == 0 and await _audits() == []
