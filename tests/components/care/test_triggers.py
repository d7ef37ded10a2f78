"""Trigger SQL against hand-built histories: who is enrolled, on which day, once."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from app.components import care
from app.components.care import queries, triggers
from app.db import as_date, fetch
from tests.components.care import care_data as cd

TODAY = date(2026, 6, 15)
NOW = cd.at_local(TODAY, 1)


async def test_refill_due_enrols_exactly_on_the_lead_day_and_not_a_day_early() -> None:
    d = cd.one_step("refill_due", {"lead_days": 5, "atc_prefix": "C08"}, template="refill_reminder")
    await cd.journey("refill", d)
    amlo = await cd.product("AMLO", atc="C08CA01")
    exact, early = await cd.member("准时"), await cd.member("提前")
    # 30 days from 21 May cover 21 May … 19 June: the first day without medicine is 20 June, 5 days after today.
    await cd.sale(exact, amlo, cd.at_local(date(2026, 5, 21)))
    # One day later: due 21 June, its lead day is tomorrow.
    await cd.sale(early, amlo, cd.at_local(date(2026, 5, 22)))
    assert await care.sweep(TODAY, cd.ZONE, NOW) == 1
    rows = await cd.enrolments("refill")
    assert [(r["member"], as_date(r["anchor_on"]), r["ref"]) for r in rows] == [(exact, TODAY, "C08CA:2026-06-19")]
    # Tomorrow the other one is due; the first is not enrolled twice for the same refill.
    assert await care.sweep(TODAY + timedelta(days=1), cd.ZONE, NOW + timedelta(days=1)) == 1
    assert len(await cd.enrolments("refill")) == 2


async def test_a_refill_bought_early_moves_the_due_day() -> None:
    await cd.journey("refill", cd.one_step("refill_due", {"lead_days": 5, "atc_prefix": ""}))
    amlo = await cd.product("AMLO", atc="C08CA01")
    m = await cd.member()
    await cd.sale(m, amlo, cd.at_local(date(2026, 5, 21)))
    await cd.sale(m, amlo, cd.at_local(date(2026, 6, 10)))  # bought again before it ran out
    assert await care.sweep(TODAY, cd.ZONE, NOW) == 0


async def test_an_early_refill_is_laid_after_the_last_pack_so_the_reminder_comes_later() -> None:
    await cd.journey("refill", cd.one_step("refill_due", {"lead_days": 5, "atc_prefix": ""}))
    amlo = await cd.product("AMLO", atc="C08CA01")
    m = await cd.member()
    # 30 days from 22 April, again on 12 May (10 days early): the packs cover 22 April … 20 June, due 21 June.
    await cd.sale(m, amlo, cd.at_local(date(2026, 4, 22)))
    await cd.sale(m, amlo, cd.at_local(date(2026, 5, 12)))
    assert await care.sweep(TODAY, cd.ZONE, NOW) == 0  # a plain "last pack + 30" would say 11 June, long gone
    day = date(2026, 6, 16)
    assert await care.sweep(day, cd.ZONE, cd.at_local(day, 1)) == 1
    (row,) = await cd.enrolments("refill")
    assert row["ref"] == "C08CA:2026-06-20" and as_date(row["anchor_on"]) == day


async def test_a_day_the_worker_missed_is_caught_up_within_the_lookback() -> None:
    await cd.journey("refill", cd.one_step("refill_due", {"lead_days": 5, "atc_prefix": ""}))
    amlo = await cd.product("AMLO", atc="C08CA01")
    m = await cd.member()
    await cd.sale(m, amlo, cd.at_local(date(2026, 5, 19)))  # its lead day was two days ago
    assert await care.sweep(TODAY, cd.ZONE, NOW) == 1
    (row,) = await cd.enrolments("refill")
    assert as_date(row["anchor_on"]) == TODAY - timedelta(days=2)


async def test_no_health_consent_or_merged_away_is_never_enrolled_in_care() -> None:
    await cd.journey("refill", cd.one_step("refill_due", {"lead_days": 5, "atc_prefix": ""}))
    amlo = await cd.product("AMLO", atc="C08CA01")
    survivor = await cd.member("留下")
    no_consent = await cd.member("未同意", health=False)
    merged = await cd.member("已合并")
    for m in (survivor, no_consent, merged):
        await cd.sale(m, amlo, cd.at_local(date(2026, 5, 21)))
    await cd.merge_away(merged, survivor)
    await care.sweep(TODAY, cd.ZONE, NOW)
    assert [r["member"] for r in await cd.enrolments("refill")] == [survivor]


async def test_birthday_n_days_before_and_29_february_in_a_common_year() -> None:
    await cd.journey("bday", cd.one_step("birthday", {"days_before": 2}, purpose="service", template="birthday"))
    leapling = await cd.member("闰日", birth=date(1996, 2, 29))
    later = await cd.member("三月", birth=date(1990, 3, 2))
    day = date(2027, 2, 26)  # 2027 is not a leap year: 29 Feb is greeted as 28 Feb, two days before → 26 Feb
    await care.sweep(day, cd.ZONE, cd.at_local(day, 1))
    assert [r["member"] for r in await cd.enrolments("bday")] == [leapling]
    day2 = date(2027, 2, 28)
    await care.sweep(day2, cd.ZONE, cd.at_local(day2, 1))
    assert [r["member"] for r in await cd.enrolments("bday")] == [leapling, later]


async def test_churn_enrols_a_chronic_patient_once_per_lapse() -> None:
    await cd.journey("churn", cd.one_step("churn", {"days": 60}, action="task", task_kind="churn_call"))
    amlo = await cd.product("AMLO", atc="C08CA01")
    chronic, other = await cd.member("慢病"), await cd.member("普通")
    await cd.condition(chronic, "hypertension")
    for m in (chronic, other):
        await cd.sale(m, amlo, cd.at_local(TODAY - timedelta(days=60)))
    assert await care.sweep(TODAY, cd.ZONE, NOW) == 1
    assert await care.sweep(TODAY + timedelta(days=1), cd.ZONE, NOW + timedelta(days=1)) == 0
    (row,) = await cd.enrolments("churn")
    assert row["member"] == chronic and row["ref"] == (TODAY - timedelta(days=60)).isoformat()


async def test_holdout_is_fixed_per_member_and_version_and_near_its_share() -> None:
    journey = await cd.journey("cal", cd.one_step("calendar", {"month": 6, "day": 15, "audience": "all"}, holdout=20))
    for i in range(200):
        await cd.member(f"会员{i}")
    await care.sweep(TODAY, cd.ZONE, NOW)
    rows = await cd.enrolments("cal")
    assert len(rows) == 200
    held = {r["member"] for r in rows if r["held_out"]}
    assert 20 <= len(held) <= 60  # 20 % of 200, give or take
    expected = await fetch("SELECT id FROM member WHERE (((id * 2654435761) + ({} * 40503)) % 100) < 20", journey["id"])
    assert held == {r["id"] for r in expected}


async def test_a_sweep_that_crashed_resumes_after_its_last_chunk() -> None:
    await cd.journey("cal", cd.one_step("calendar", {"month": 6, "day": 15, "audience": "all"}))
    ids = [await cd.member(f"会员{i}") for i in range(10)]
    journey = await queries.journey_by_code("cal")
    assert journey is not None
    # A run that stopped after the first chunk: its enrolments and its cursor committed together.
    name = f"cal:v1:{TODAY.isoformat()}"
    w = triggers.Window.on(TODAY, cd.ZONE)
    candidates = triggers.swept(care.definition_of(journey), w, 0, ids[4])
    assert candidates is not None
    await queries.enrol(journey, candidates, NOW)
    await queries.move_cursor(name, ids[4], False, NOW)
    assert await care.sweep(TODAY, cd.ZONE, NOW, chunk=3) == 5
    assert len(await cd.enrolments("cal")) == 10
    assert await queries.cursor(name) == (ids[-1], True)


async def test_a_journey_failing_mid_sweep_stops_the_run_and_the_next_run_finishes_each_journey_once(
    monkeypatch,
) -> None:
    for code in ("cal_a", "cal_b"):
        step = cd.one_step("calendar", {"month": 6, "day": 15, "audience": "all"})
        await cd.journey(code, dataclasses.replace(step, name_en=code))
    ids = [await cd.member(f"会员{i}") for i in range(10)]
    real = triggers.swept

    def failing_on_b(d, w, lo, hi):
        if d.name_en == "cal_b" and lo >= ids[4]:  # part way: a fault in the trigger or the database
            raise RuntimeError("cal_b failed")
        return real(d, w, lo, hi)

    monkeypatch.setattr(triggers, "swept", failing_on_b)
    with pytest.raises(ExceptionGroup) as failed:
        await care.sweep(TODAY, cd.ZONE, NOW, chunk=3)
    assert failed.group_contains(RuntimeError, match="cal_b failed")
    # cal_b's chunks before the fault committed with its cursor; the failed chunk left nothing behind.
    stopped_at, done = await queries.cursor(f"cal_b:v1:{TODAY.isoformat()}")
    assert not done and ids[4] <= stopped_at < ids[-1]
    assert [r["member"] for r in await cd.enrolments("cal_b")] == [m for m in ids if m <= stopped_at]
    monkeypatch.setattr(triggers, "swept", real)
    await care.sweep(TODAY, cd.ZONE, NOW, chunk=3)
    for code in ("cal_a", "cal_b"):
        assert sorted(r["member"] for r in await cd.enrolments(code)) == ids
        assert await queries.cursor(f"{code}:v1:{TODAY.isoformat()}") == (ids[-1], True)


async def test_purchase_event_enrols_once_and_not_again_within_the_repeat_period() -> None:
    d = cd.one_step("purchase", {"atc_prefix": "C08 C09", "category": ""}, after_days=3)
    await cd.journey("course", d)
    amlo = await cd.product("AMLO", atc="C08CA01")
    vitc = await cd.product("VITC", atc="A11GA01", rx="OTC")
    m = await cd.member()
    first = await cd.sale(m, amlo, cd.at_local(TODAY))
    other = await cd.sale(m, vitc, cd.at_local(TODAY))
    assert await care.enrol_from_event("sale.completed", m, {"sale_no": other}, TODAY, cd.ZONE, NOW) == 0
    assert await care.enrol_from_event("sale.completed", m, {"sale_no": first}, TODAY, cd.ZONE, NOW) == 1
    assert await care.enrol_from_event("sale.completed", m, {"sale_no": first}, TODAY, cd.ZONE, NOW) == 0
    again = await cd.sale(m, amlo, cd.at_local(TODAY + timedelta(days=30)))
    assert await care.enrol_from_event("sale.completed", m, {"sale_no": again}, TODAY, cd.ZONE, NOW) == 0
    (row,) = await cd.enrolments("course")
    assert row["ref"] == first and as_date(row["next_due_on"]) == TODAY + timedelta(days=3)


async def test_audience_preview_counts_who_would_have_been_enrolled() -> None:
    amlo = await cd.product("AMLO", atc="C08CA01")
    buyers = [await cd.member(f"买{i}") for i in range(3)]
    for m in buyers:
        await cd.sale(m, amlo, datetime.now(UTC) - timedelta(days=2))
    await cd.member("没买")
    d = cd.one_step("purchase", {"atc_prefix": "C08", "category": ""})
    assert await care.audience(d, "x", date.today(), cd.ZONE) == 3
    d_none = cd.one_step("purchase", {"atc_prefix": "N02", "category": ""})
    assert await care.audience(d_none, "x", date.today(), cd.ZONE) == 0
