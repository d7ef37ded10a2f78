"""Refill-due and PDC on hand-built histories, in Python and in the set-based SQL (which must agree)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from app.components import adherence
from app.components.adherence import Fill
from app.db import fetch
from tests.components.care import care_data as cd
from tests.conftest import actor

TODAY = date(2026, 6, 30)


def test_a_supply_covers_its_days_and_the_refill_is_due_the_day_after() -> None:
    assert adherence.refill_due([Fill(date(2026, 6, 1), 30)]) == date(2026, 7, 1)


def test_an_early_refill_is_shifted_to_start_when_the_last_pack_ends() -> None:
    fills = [Fill(date(2026, 6, 1), 30), Fill(date(2026, 6, 21), 30)]
    assert adherence.shifted(fills) == [(date(2026, 6, 1), date(2026, 6, 30)), (date(2026, 7, 1), date(2026, 7, 30))]
    assert adherence.refill_due(fills) == date(2026, 7, 31)


def test_pdc_needs_two_fill_days_counts_from_the_first_fill_and_is_adherent_at_exactly_80() -> None:
    one = adherence.pdc([Fill(TODAY - timedelta(days=30), 30)], TODAY)
    assert one.percent is None and one.adherent is None
    # First fill 100 days ago (100 days to today inclusive): 80 days covered is exactly 80 %.
    start = TODAY - timedelta(days=99)
    exact = adherence.pdc([Fill(start, 40), Fill(start + timedelta(days=60), 40)], TODAY)
    assert (exact.covered, exact.days, exact.percent, exact.adherent) == (80, 100, 80, True)
    short = adherence.pdc([Fill(start, 40), Fill(start + timedelta(days=61), 39)], TODAY)
    assert short.covered == 79 and short.adherent is False


def test_overlaps_are_shifted_and_supply_beyond_today_is_not_counted() -> None:
    start = TODAY - timedelta(days=59)  # 60 days
    result = adherence.pdc([Fill(start, 30), Fill(start + timedelta(days=10), 30), Fill(TODAY, 30)], TODAY)
    # 30 + 30 days laid end to end cover all 60 days; the fill of today is shifted beyond today.
    assert (result.covered, result.days, result.adherent) == (60, 60, True)


def test_fills_before_the_window_do_not_count() -> None:
    result = adherence.pdc([Fill(TODAY - timedelta(days=200), 90), Fill(TODAY - timedelta(days=10), 30)], TODAY)
    assert result.fill_dates == 1 and result.percent is None


async def _fills(member_id: int, fills: list[Fill], atc: str = "C08CA01") -> None:
    product = await cd.product("P" + atc, atc=atc)
    for f in fills:
        # Sold at noon on the fill's day, with its days of supply (one pack).
        await cd.sale(member_id, product, cd.at_local(f.started_on, 12), qty=1, days=f.days)


async def test_the_sql_agrees_with_the_rules_on_random_histories() -> None:
    rng = random.Random(14)
    for n in range(12):
        m = await cd.member(f"史{n}")
        fills = []
        day = TODAY - timedelta(days=rng.randrange(150, 300))
        while day <= TODAY:
            fills.append(Fill(day, rng.choice([7, 14, 28, 30])))
            day += timedelta(days=rng.randrange(5, 45))
        await _fills(m, fills)
        (therapy,) = await adherence.member_therapies(m, TODAY)
        in_window = [f for f in fills if f.started_on >= TODAY - timedelta(days=adherence.WINDOW_DAYS - 1)]
        expected = adherence.pdc(in_window, TODAY)
        recent = [f for f in fills if f.started_on >= TODAY - timedelta(days=365)]
        assert therapy.refill_due == adherence.refill_due(recent), fills
        assert therapy.pdc == expected.percent and therapy.adherent == expected.adherent, fills


async def test_the_store_list_shows_non_adherent_patients_with_their_refill_day() -> None:
    good, poor, single = await cd.member("好"), await cd.member("差"), await cd.member("单")
    await _fills(
        good,
        [
            Fill(TODAY - timedelta(days=89), 30),
            Fill(TODAY - timedelta(days=59), 30),
            Fill(TODAY - timedelta(days=29), 30),
        ],
    )
    await _fills(poor, [Fill(TODAY - timedelta(days=89), 30), Fill(TODAY - timedelta(days=29), 10)])
    await _fills(single, [Fill(TODAY - timedelta(days=100), 30)])
    patients = await adherence.non_adherent(await cd.store_id(), TODAY, await actor("manager"))
    assert [(p.member_id, p.pdc, p.refill_due) for p in patients] == [(poor, 44, TODAY - timedelta(days=19))]
    assert patients[0].overdue_days == 19
    logged = await fetch("SELECT COUNT(*) AS n FROM audit_event WHERE action = 'adherence.view'")
    assert logged[0]["n"] == 1


async def test_a_merged_members_fills_count_for_the_survivor() -> None:
    keep, dup = await cd.member("留"), await cd.member("并")
    await _fills(keep, [Fill(TODAY - timedelta(days=59), 30)])
    await _fills(dup, [Fill(TODAY - timedelta(days=29), 30)])
    await fetch("UPDATE medication SET member = {} WHERE member = {}", keep, dup)  # what a merge moves
    await cd.merge_away(dup, keep)
    (therapy,) = await adherence.member_therapies(keep, TODAY)
    assert therapy.pdc == 100 and therapy.refill_due == TODAY + timedelta(days=1)
    assert await adherence.member_therapies(dup, TODAY) == []
