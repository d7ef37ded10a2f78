"""The step runner on real tables: each step's effect exactly once, at its local time, held out, skipped, exited."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from app.components import care, care_tasks
from app.components.care import queries, stats, steps
from app.components.care.definitions import Definition, Step
from app.db import as_date, fetch, transaction
from tests.components.care import care_data as cd
from tests.conftest import actor

TODAY = date(2026, 6, 15)


def course(holdout: int = 0) -> Definition:
    return Definition(
        "降压关怀",
        "BP care",
        "care",
        "purchase",
        {"atc_prefix": "C08", "category": ""},
        (
            Step(3, "10:00", "message", template="usage_note"),
            Step(30, "10:00", "task", task_kind="follow_up_call", skip_if=("task_open",)),
        ),
        holdout,
    )


async def enrolled(code: str = "course", holdout: int = 0, members: int = 1) -> list[int]:
    """Members who bought amlodipine today, enrolled in the two-step course."""
    await cd.journey(code, course(holdout))
    amlo = await cd.product("AMLO", atc="C08CA01")
    ids = []
    for i in range(members):
        m = await cd.member(f"会员{i}")
        sale_no = await cd.sale(m, amlo, cd.at_local(TODAY, 9))
        async with transaction():
            assert await care.enrol_from_event(
                "sale.completed", m, {"sale_no": sale_no}, TODAY, cd.ZONE, cd.at_local(TODAY, 9)
            )
        ids.append(m)
    return ids


async def messages_of(member_id: int) -> list[dict]:
    return await fetch("SELECT key, template, purpose FROM message WHERE member = {} ORDER BY id", member_id)


async def tasks_of(member_id: int) -> list[dict]:
    return await fetch("SELECT key, kind, status FROM care_task WHERE member = {} ORDER BY id", member_id)


async def step_runs(member_id: int) -> list[tuple]:
    rows = await fetch(
        "SELECT r.step, r.status, r.reason FROM journey_step_run r JOIN journey_enrolment e ON e.id = r.enrolment"
        " WHERE e.member = {} ORDER BY r.step",
        member_id,
    )
    return [(r["step"], r["status"], r["reason"]) for r in rows]


async def test_a_step_runs_at_its_local_time_on_its_day_and_only_once() -> None:
    (m,) = await enrolled()
    day3 = TODAY + timedelta(days=3)
    await steps.run_due(cd.at_local(day3, 9, 59))
    assert await messages_of(m) == []
    await steps.run_due(cd.at_local(day3, 10, 0))
    await steps.run_due(cd.at_local(day3, 10, 5))
    (msg,) = await messages_of(m)
    assert msg["template"] == "usage_note" and msg["purpose"] == "care"
    (e,) = await cd.enrolments("course")
    assert e["next_step"] == 1 and as_date(e["next_due_on"]) == TODAY + timedelta(days=30)
    await steps.run_due(cd.at_local(TODAY + timedelta(days=30), 10, 0))
    (task,) = await tasks_of(m)
    assert task["kind"] == "follow_up_call" and task["status"] == "open"
    (e,) = await cd.enrolments("course")
    assert e["status"] == "completed"
    assert await step_runs(m) == [(0, "done", ""), (1, "done", "")]


async def test_a_worker_that_was_down_catches_up_every_step_in_order_once() -> None:
    (m,) = await enrolled()
    late = cd.at_local(TODAY + timedelta(days=40), 11)
    await steps.run_due(late)  # day 3's step
    await steps.run_due(late)  # day 30's step
    await steps.run_due(late)
    assert len(await messages_of(m)) == 1 and len(await tasks_of(m)) == 1


async def test_two_runners_at_once_make_each_effect_once() -> None:
    members = await enrolled(members=6)
    when = cd.at_local(TODAY + timedelta(days=3), 10)
    await asyncio.gather(steps.run_due(when, batch=2), steps.run_due(when, batch=3))
    for m in members:
        assert len(await messages_of(m)) == 1
    assert (await fetch("SELECT COUNT(*) AS n FROM journey_step_run"))[0]["n"] == 6


async def test_a_step_the_outbox_refuses_is_recorded_as_failed_and_the_rest_of_the_batch_still_runs() -> None:
    # Saved without the builder (which refuses it): a care journey whose message is a marketing template.
    wrong = Definition(
        "错配",
        "Mismatched",
        "care",
        "purchase",
        {"atc_prefix": "C08", "category": ""},
        (Step(3, "10:00", "message", template="birthday"),),
    )
    await cd.journey("wrong", wrong)
    members = await enrolled(members=3)
    result = await steps.run_due(cd.at_local(TODAY + timedelta(days=3), 10))
    assert (result.done, result.failed, result.errors) == (3, 3, 0)
    for m in members:
        assert [r["template"] for r in await messages_of(m)] == ["usage_note"]
    assert {(r["status"], r["exit_reason"]) for r in await cd.enrolments("wrong")} == {("exited", "step_failed")}
    runs = await fetch("SELECT status, reason FROM journey_step_run WHERE status = 'failed'")
    assert [(r["status"], r["reason"]) for r in runs] == [("failed", "refused:template")] * 3
    again = await steps.run_due(cd.at_local(TODAY + timedelta(days=3), 11))
    assert (again.done, again.failed) == (0, 0)
    ids = [j["id"] for j in await care.versions("wrong")]
    assert [c.failed for c in (await stats.journey_stats(ids, TODAY)).steps] == [3]


async def test_held_out_members_are_counted_but_get_nothing() -> None:
    members = await enrolled(holdout=50, members=20)
    when = cd.at_local(TODAY + timedelta(days=40), 10)
    for _ in range(3):
        await steps.run_due(when)
    held = {r["member"] for r in await cd.enrolments("course") if r["held_out"]}
    assert 0 < len(held) < 20
    for m in members:
        if m in held:
            assert await messages_of(m) == [] and await tasks_of(m) == []
            assert await step_runs(m) == [(0, "held_out", ""), (1, "held_out", "")]
        else:
            assert len(await messages_of(m)) == 1 and len(await tasks_of(m)) == 1


async def test_an_open_task_of_the_kind_skips_the_task_step() -> None:
    (m,) = await enrolled()
    now = cd.at_local(TODAY, 12)
    manual = care_tasks.NewTask(
        key="manual:1",
        member_id=m,
        store_id=await cd.store_id(),
        kind="follow_up_call",
        priority="normal",
        role="pharmacist",
        assignee_id=None,
        due_at=now,
        title="Call about the new medicine",
        params={},
        source={},
    )
    async with transaction():
        await care_tasks.create_task(manual, now)
    late = cd.at_local(TODAY + timedelta(days=40), 10)
    await steps.run_due(late)
    await steps.run_due(late)
    assert await step_runs(m) == [(0, "done", ""), (1, "skipped", "task_open")]
    assert [t["key"] for t in await tasks_of(m)] == ["manual:1"]


async def test_repurchase_skips_a_reminder_step() -> None:
    d = cd.one_step(
        "refill_due", {"lead_days": 5, "atc_prefix": "C08"}, template="refill_reminder", skip_if=("repurchased",)
    )
    await cd.journey("refill", d)
    amlo = await cd.product("AMLO", atc="C08CA01")
    bought, waiting = await cd.member("已买"), await cd.member("未买")
    for m in (bought, waiting):
        await cd.sale(m, amlo, cd.at_local(date(2026, 5, 21)))
    await care.sweep(TODAY, cd.ZONE, cd.at_local(TODAY, 1))
    # At 09:00 one bought the next pack (the reminder is due at 10:00); the other only bought vitamins.
    await cd.sale(bought, amlo, cd.at_local(TODAY, 9))
    vitc = await cd.product("VITC", atc="A11GA01", rx="OTC")
    await cd.sale(waiting, vitc, cd.at_local(TODAY, 9), days=None)
    await steps.run_due(cd.at_local(TODAY, 10))
    assert await step_runs(bought) == [(0, "skipped", "repurchased")]
    assert await messages_of(bought) == []
    (msg,) = await messages_of(waiting)
    assert msg["template"] == "refill_reminder"


async def test_merged_away_or_opted_out_members_leave_at_the_next_step() -> None:
    a, b, c = await enrolled(members=3)
    await cd.merge_away(a, c)
    await fetch("UPDATE member SET consent_health = false WHERE id = {}", b)
    await steps.run_due(cd.at_local(TODAY + timedelta(days=3), 10))
    rows = {r["member"]: r for r in await cd.enrolments("course")}
    assert (rows[a]["status"], rows[a]["exit_reason"]) == ("exited", "merged")
    assert (rows[b]["status"], rows[b]["exit_reason"]) == ("exited", "opted_out")
    assert await messages_of(a) == [] and await messages_of(b) == []
    assert len(await messages_of(c)) == 1


async def test_switching_off_ends_running_enrolments_and_a_new_version_lets_them_finish_on_theirs() -> None:
    members = await enrolled(members=2)
    admin = await actor("admin")
    edited = Definition(
        "降压关怀 v2",
        "BP care v2",
        "care",
        "purchase",
        {"atc_prefix": "C08", "category": ""},
        (Step(1, "10:00", "message", template="refill_reminder"),),
    )
    await care.save_journey("course", edited, admin)
    await steps.run_due(cd.at_local(TODAY + timedelta(days=3), 10))
    for m in members:
        assert [r["template"] for r in await messages_of(m)] == ["usage_note"]  # their version's step
    assert await care.switch_journey("course", False, admin) == 2
    assert {r["exit_reason"] for r in await cd.enrolments("course")} == {"journey_off"}
    await steps.run_due(cd.at_local(TODAY + timedelta(days=30), 10))
    for m in members:
        assert await tasks_of(m) == []


async def test_step_counts_and_the_treated_vs_held_out_comparison() -> None:
    members = await enrolled(holdout=50, members=12)
    await steps.run_due(cd.at_local(TODAY + timedelta(days=3), 10))
    amlo = await cd.product("AMLO", atc="C08CA01")
    for m in members:  # the second fill, so PDC counts
        await cd.sale(m, amlo, cd.at_local(TODAY + timedelta(days=30), 9))
    ids = await care.version_ids("course")
    numbers = await stats.journey_stats(ids, TODAY + timedelta(days=40))
    assert numbers.enrolled == 12
    assert numbers.steps[0].done + numbers.steps[0].held_out == 12
    assert numbers.repurchase.n_treated + numbers.repurchase.n_held_out == 12
    assert numbers.repurchase.treated == 100.0  # each bought again on day 30
    assert numbers.pdc.n_treated + numbers.pdc.n_held_out == 12
    assert numbers.pdc.treated == 100.0 and numbers.pdc.diff == 0.0
    jid = (await queries.journey_by_code("course"))["id"]  # type: ignore[index]
    assert jid in ids
