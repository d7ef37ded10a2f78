"""Domain events: recorded with their change, handed to each handler exactly once whatever fails or races."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from app.components import care, consents, events, health, members
from app.db import fetch, transaction
from tests.components.care import care_data as cd
from tests.conftest import actor, grant_health_consent

NOW = datetime(2026, 6, 15, 2, tzinfo=UTC)


async def _marks(member_id: int) -> list[str]:
    rows = await fetch("SELECT ref FROM member_event WHERE member = {} AND kind = 'test' ORDER BY id", member_id)
    return [r["ref"] for r in rows]


def _writer(name: str, seen: list[str], fail_times: int = 0) -> events.Handler:
    """A handler that writes a timeline row per event (in its transaction), failing its first `fail_times` runs."""
    failures = {"left": fail_times}

    async def handle(event: events.Event) -> None:
        assert event.member_id is not None
        await fetch(
            "INSERT INTO member_event (member, at, kind, summary, ref) VALUES ({}, {}, 'test', '', {})",
            event.member_id,
            NOW,
            f"{name}:{event.key}",
        )
        seen.append(event.key)
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("the handler's database call timed out")

    return events.Handler(name, frozenset({events.SALE_COMPLETED}), handle)


async def test_an_event_is_recorded_once_per_key_and_only_of_a_known_kind() -> None:
    m = await cd.member()
    async with transaction():
        assert await events.record("sale:S1", events.SALE_COMPLETED, m, None, {"sale_no": "S1"}, NOW)
        assert not await events.record("sale:S1", events.SALE_COMPLETED, m, None, {"sale_no": "S1"}, NOW)
    assert (await fetch("SELECT COUNT(*) AS n FROM outbox"))[0]["n"] == 1
    with pytest.raises(ValueError):
        await events.record("x:1", "sale.done", m, None, {}, NOW)


async def test_an_event_recorded_in_a_transaction_that_rolls_back_does_not_exist() -> None:
    m = await cd.member()
    with pytest.raises(RuntimeError):
        async with transaction():
            await events.record("sale:S2", events.SALE_COMPLETED, m, None, {}, NOW)
            raise RuntimeError("the sale failed")
    assert await events.dispatch([_writer("a", [])]) == 0


async def test_each_handler_handles_each_event_once_even_when_dispatch_runs_twice_or_at_once() -> None:
    m = await cd.member()
    async with transaction():
        for n in range(5):
            await events.record(f"sale:S{n}", events.SALE_COMPLETED, m, None, {}, NOW)
    seen_a: list[str] = []
    seen_b: list[str] = []
    handlers = [_writer("a", seen_a), _writer("b", seen_b)]
    await asyncio.gather(events.dispatch(handlers, limit=2, batches=5), events.dispatch(handlers, limit=3, batches=5))
    await events.dispatch(handlers)
    marks = await _marks(m)
    assert sorted(marks) == sorted([f"a:sale:S{n}" for n in range(5)] + [f"b:sale:S{n}" for n in range(5)])
    assert (await fetch("SELECT COUNT(*) AS n FROM outbox WHERE dispatched_at IS NULL"))[0]["n"] == 0


async def test_a_failing_handler_leaves_the_event_pending_and_does_not_repeat_the_others() -> None:
    m = await cd.member()
    async with transaction():
        await events.record("sale:S9", events.SALE_COMPLETED, m, None, {}, NOW)
        await events.record("sale:S10", events.SALE_COMPLETED, m, None, {}, NOW)
    seen_ok: list[str] = []
    seen_flaky: list[str] = []
    handlers = [_writer("ok", seen_ok), _writer("flaky", seen_flaky, fail_times=1)]
    assert await events.dispatch(handlers) == 1  # S9 failed in "flaky"; S10 went on
    assert await _marks(m) == ["ok:sale:S9", "ok:sale:S10", "flaky:sale:S10"]
    row = (await fetch("SELECT attempts, last_error, dispatched_at FROM outbox WHERE key = 'sale:S9'"))[0]
    assert row["attempts"] == 1 and "timed out" in row["last_error"] and row["dispatched_at"] is None
    assert await events.dispatch(handlers) == 1
    assert sorted(await _marks(m)) == sorted(["ok:sale:S9", "ok:sale:S10", "flaky:sale:S10", "flaky:sale:S9"])
    assert seen_ok == ["sale:S9", "sale:S10"]  # the handler that succeeded was not run again


async def test_an_event_that_keeps_failing_waits_for_a_person_and_the_rest_go_on() -> None:
    m = await cd.member()
    async with transaction():
        await events.record("sale:BAD", events.SALE_COMPLETED, m, None, {}, NOW)
    broken = _writer("broken", [], fail_times=99)
    for _ in range(events.MAX_ATTEMPTS + 2):
        await events.dispatch([broken])
    failed = await events.failed_events()
    assert [f["key"] for f in failed] == ["sale:BAD"] and failed[0]["attempts"] == events.MAX_ATTEMPTS
    async with transaction():
        await events.record("sale:GOOD", events.SALE_COMPLETED, m, None, {}, NOW)
    assert await events.dispatch([_writer("fine", [])]) == 1


async def _kinds(member_id: int) -> list[str]:
    return [r["kind"] for r in await fetch("SELECT kind FROM outbox WHERE member = {} ORDER BY id", member_id)]


async def test_registration_condition_reading_consent_and_merge_record_their_events() -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="事件", phone="13900002222"), pharmacist)
    await grant_health_consent(view.member_no)
    member_id = view.id
    await health.add_condition(view.member_no, health.NewCondition(code="hypertension"), pharmacist)
    await health.record_vital(view.member_no, health.NewVital(kind="bp", systolic="128", diastolic="82"), pharmacist)
    await health.record_vital(view.member_no, health.NewVital(kind="bp", systolic="168", diastolic="102"), pharmacist)
    async with transaction():
        await consents.set_consent(member_id, "marketing_sms", False, pharmacist)
    kinds = await _kinds(member_id)
    assert kinds == [
        "member.registered",
        "consent.changed",  # the health-data grant
        "condition.added",
        "vital.out_of_range",  # only the high reading
        "consent.changed",
    ]
    other = await members.register(members.NewMember(name="事件二", phone="13900003333"), pharmacist)
    await members.merge(view.member_no, other.member_no, await actor("manager"))
    merged = await fetch("SELECT payload FROM outbox WHERE kind = 'member.merged'")
    assert len(merged) == 1 and f'"from_id": {other.id}' in str(merged[0]["payload"]).replace("'", '"')


async def test_the_care_engine_as_a_handler_enrols_a_new_member_once() -> None:
    await care.add_journey("welcome", care.BUILTIN["welcome"], True)
    view = await members.register(members.NewMember(name="欢迎", phone="13900004444"), await actor())
    handlers = [care.CARE_HANDLER]
    await events.dispatch(handlers)
    await events.dispatch(handlers)
    rows = await cd.enrolments("welcome")
    assert [r["member"] for r in rows] == [view.id]
