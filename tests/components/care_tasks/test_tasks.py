"""The task queue on real tables: once per key, the queue's order and scope, outcomes once, retries, BP as a vital."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from app.components import care_tasks, timeline
from app.components.core.errors import NotFound, ValidationFailed
from app.db import fetch, transaction
from app.i18n import use_language
from tests.components.care import care_data as cd
from tests.conftest import actor, grant_health_consent

NOW = datetime.now(UTC)


async def _task(member_id: int, key: str, *, due: datetime = NOW, priority: str = "normal", store: str = "SH001",
                kind: str = "follow_up_call", assignee: int | None = None) -> int:  # fmt: skip
    task = care_tasks.NewTask(
        key=key,
        member_id=member_id,
        store_id=await cd.store_id(store),
        kind=kind,
        priority=priority,
        role="pharmacist",
        assignee_id=assignee,
        due_at=due,
        title="%(journey)s: step %(step)s",
        params={"journey": {"zh-CN": "降压关怀", "en": "BP care"}, "step": 2},
        source={"journey": "hypertension_care", "version": 1, "step": 1, "enrolment": 1},
    )
    async with transaction():
        new_id = await care_tasks.create_task(task, NOW)
    assert new_id is not None
    return new_id


async def _member_no(member_id: int) -> str:
    return (await fetch("SELECT member_no FROM member WHERE id = {}", member_id))[0]["member_no"]


async def test_a_task_is_created_once_per_key_and_an_urgent_one_notifies_the_store() -> None:
    m = await cd.member()
    await _task(m, "k1", priority="urgent")
    async with transaction():
        again = care_tasks.NewTask("k1", m, await cd.store_id(), "bp_review", "urgent", "pharmacist", None, NOW, "x")
        assert await care_tasks.create_task(again, NOW) is None
    assert (await fetch("SELECT COUNT(*) AS n FROM care_task"))[0]["n"] == 1
    notices = await fetch("SELECT key, template, purpose FROM message WHERE key = 'task:k1'")
    assert [(n["template"], n["purpose"]) for n in notices] == [("urgent_task", "staff")]


async def test_the_queue_is_urgent_first_then_by_due_time_for_me_and_my_store_only() -> None:
    m = await cd.member()
    me = await actor("pharmacist")
    late = await _task(m, "late", due=NOW - timedelta(days=2))
    soon = await _task(m, "soon", due=NOW - timedelta(hours=2))
    urgent = await _task(m, "urgent", due=NOW, priority="urgent")
    await _task(m, "tomorrow", due=NOW + timedelta(days=2))  # not today's
    other_store = await _task(m, "other", store="SH002")
    with use_language("en"):
        queue = await care_tasks.my_queue(me, "mine", NOW)
    assert [t.id for t in queue] == [urgent, late, soon]
    assert queue[1].overdue and not queue[0].overdue
    assert queue[0].title == "BP care: step 2"
    with pytest.raises(NotFound):
        await care_tasks.get_task(other_store, me)


async def test_a_task_given_to_a_colleague_leaves_my_list_and_snoozing_hides_it_until_then() -> None:
    m = await cd.member()
    me, colleague = await actor("pharmacist"), await actor("manager")
    t = await _task(m, "a")
    await care_tasks.reassign(t, colleague.id, me)
    assert [x.id for x in await care_tasks.my_queue(me, "mine", NOW)] == []
    assert [x.id for x in await care_tasks.my_queue(me, "store", NOW)] == [t]
    other_store_staff = await actor("pharmacist2")
    with pytest.raises(ValidationFailed) as bad:
        await care_tasks.reassign(t, other_store_staff.id, me)
    assert "assignee" in bad.value.errors
    with pytest.raises(ValidationFailed):
        await care_tasks.snooze(t, "15", me)
    await care_tasks.snooze(t, "3", me, now=NOW)
    assert await care_tasks.my_queue(me, "store", NOW) == []
    assert [x.id for x in await care_tasks.my_queue(me, "store", NOW + timedelta(days=3, minutes=1))] == [t]


async def test_reached_with_answers_and_a_bp_reading_closes_the_task_once_and_stores_the_vital() -> None:
    m = await cd.member()
    await grant_health_consent(await _member_no(m))
    me = await actor()
    t = await _task(m, "call")
    form = care_tasks.Outcome(
        outcome="reached", taking="partly", side_effects="头晕", systolic="152", diastolic="96", note="建议复查"
    )
    await asyncio.gather(care_tasks.record_outcome(t, form, me), care_tasks.record_outcome(t, form, me))
    done = await care_tasks.get_task(t, me)
    assert done.status == "done" and done.outcome == "reached" and done.answers["bp"] == "152/96"
    vitals = await fetch("SELECT systolic, diastolic, flag FROM vital WHERE member = {}", m)
    assert [(v["systolic"], v["diastolic"], v["flag"]) for v in vitals] == [(152, 96, "high")]
    events = await fetch("SELECT summary FROM member_event WHERE member = {} AND kind = 'task'", m)
    assert len(events) == 1
    with use_language("en"):
        text = timeline.render(events[0]["summary"])
    assert "Follow-up call: Reached" in text and "Partly" in text and "152/96" in text and "头晕" in text


async def test_a_bad_reading_is_refused_next_to_its_field_and_nothing_is_stored() -> None:
    m = await cd.member()
    await grant_health_consent(await _member_no(m))
    t = await _task(m, "call")
    with pytest.raises(ValidationFailed) as bad:
        await care_tasks.record_outcome(
            t, care_tasks.Outcome(outcome="reached", systolic="400", diastolic="96"), await actor()
        )
    assert "systolic" in bad.value.errors
    assert (await care_tasks.get_task(t, await actor())).status == "open"
    assert (await fetch("SELECT COUNT(*) AS n FROM vital"))[0]["n"] == 0
    with pytest.raises(ValidationFailed) as missing:
        await care_tasks.record_outcome(t, care_tasks.Outcome(outcome=""), await actor())
    assert "outcome" in missing.value.errors


async def test_not_reached_retries_in_n_days_and_closes_after_three_tries() -> None:
    m = await cd.member()
    me = await actor()
    t = await _task(m, "call")
    for n in range(1, 3):
        after = await care_tasks.record_outcome(t, care_tasks.Outcome(outcome="not_reached", retry_days="2"), me)
        assert after.status == "open" and after.attempts == n
        assert after.due_at > datetime.now(UTC) + timedelta(days=1)
    last = await care_tasks.record_outcome(t, care_tasks.Outcome(outcome="not_reached", retry_days="2"), me)
    assert last.status == "done" and last.outcome == "not_reached" and last.attempts == 3
    with pytest.raises(ValidationFailed):
        await care_tasks.record_outcome(
            await _task(m, "two"), care_tasks.Outcome(outcome="not_reached", retry_days="30"), me
        )


async def test_the_manager_sees_open_and_overdue_per_assignee() -> None:
    m = await cd.member()
    manager = await actor("manager")
    pharmacist = await actor("pharmacist")
    await _task(m, "a", due=NOW - timedelta(days=1), assignee=pharmacist.id)
    await _task(m, "b", due=NOW + timedelta(days=1), assignee=pharmacist.id)
    await _task(m, "c", due=NOW - timedelta(days=3))
    counts = {c.assignee_id: (c.open, c.overdue) for c in await care_tasks.queue_counts(manager)}
    assert counts == {pharmacist.id: (2, 1), None: (1, 1)}
