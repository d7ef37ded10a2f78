"""Does it work? Per-step counts, and treated vs held-out members compared with a 95 % confidence interval."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from app.components import adherence
from app.components.care import queries
from app.components.care.definitions import CONVERSION_DAYS
from app.db import as_date

Z95 = 1.959963984540054
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Difference:
    """Treated minus held out, with its 95 % confidence interval (None when a group is too small to say)."""

    treated: float | None
    held_out: float | None
    diff: float | None
    low: float | None
    high: float | None
    n_treated: int
    n_held_out: int

    @property
    def significant(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def proportion_difference(x1: int, n1: int, x0: int, n0: int) -> Difference:
    """Difference of two proportions (Wald interval), in percentage points."""
    if n1 < 1 or n0 < 1:
        return Difference(100 * x1 / n1 if n1 else None, 100 * x0 / n0 if n0 else None, None, None, None, n1, n0)
    p1, p0 = x1 / n1, x0 / n0
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    d = p1 - p0
    return Difference(100 * p1, 100 * p0, 100 * d, 100 * (d - Z95 * se), 100 * (d + Z95 * se), n1, n0)


def mean_difference(treated: list[float], held_out: list[float]) -> Difference:
    """Difference of two means (Welch's standard error, normal approximation)."""
    n1, n0 = len(treated), len(held_out)
    m1 = sum(treated) / n1 if n1 else None
    m0 = sum(held_out) / n0 if n0 else None
    if n1 < 2 or n0 < 2 or m1 is None or m0 is None:
        return Difference(m1, m0, None, None, None, n1, n0)
    v1 = sum((x - m1) ** 2 for x in treated) / (n1 - 1)
    v0 = sum((x - m0) ** 2 for x in held_out) / (n0 - 1)
    se = math.sqrt(v1 / n1 + v0 / n0)
    d = m1 - m0
    return Difference(m1, m0, d, d - Z95 * se, d + Z95 * se, n1, n0)


@dataclass(frozen=True)
class StepCount:
    """One step's counts."""

    step: int
    action: str
    done: int
    skipped: int
    held_out: int
    sent: int
    delivered: int


@dataclass(frozen=True)
class JourneyStats:
    """The journeys page's numbers for one journey (all its versions)."""

    enrolled: int
    held_out: int
    active: int
    completed: int
    exited: int
    steps: list[StepCount]
    converted: int
    repurchase: Difference
    revenue: Difference
    pdc: Difference


async def journey_stats(journey_ids: list[int], today: date, has_messages: bool = True) -> JourneyStats:
    """Counts per step and the treated / held-out comparison over enrolments whose window has closed."""
    totals = {"enrolled": 0, "held_out": 0, "active": 0, "completed": 0, "exited": 0}
    for r in await queries.enrolment_counts(journey_ids):
        n = int(r["n"])
        totals["enrolled"] += n
        totals["held_out"] += n if r["held_out"] else 0
        totals[r["status"]] = totals.get(r["status"], 0) + n
    by_step: dict[int, dict] = {}
    for r in await queries.step_counts(journey_ids):
        s = by_step.setdefault(int(r["step"]), {"action": r["action"], "done": 0, "skipped": 0, "held_out": 0})
        s[r["status"]] = s.get(r["status"], 0) + int(r["n"])
    sent: dict[int, int] = {}
    delivered: dict[int, int] = {}
    if has_messages:
        for r in await queries.message_counts(journey_ids):
            if r["status"] in ("sent", "delivered"):
                sent[int(r["step"])] = sent.get(int(r["step"]), 0) + int(r["n"])
            if r["status"] == "delivered":
                delivered[int(r["step"])] = delivered.get(int(r["step"]), 0) + int(r["n"])
    steps = [
        StepCount(n, s["action"], s["done"], s["skipped"], s["held_out"], sent.get(n, 0), delivered.get(n, 0))
        for n, s in sorted(by_step.items())
    ]
    closed = today - timedelta(days=CONVERSION_DAYS)
    rows = await queries.outcomes(journey_ids, CONVERSION_DAYS, closed)
    treated = [r for r in rows if not r["held_out"]]
    held = [r for r in rows if r["held_out"]]
    bought = [r for r in treated if int(r["sales"])]
    repurchase = proportion_difference(len(bought), len(treated), sum(1 for r in held if int(r["sales"])), len(held))
    revenue = mean_difference([int(r["spent"]) / 100 for r in treated], [int(r["spent"]) / 100 for r in held])
    # PDC now (180 days, chronic groups) of the members of closed windows, treated vs held out.
    held_members = {r["member"] for r in held}
    treated_members = {r["member"] for r in treated} - held_members
    per_member: dict[int, list[float]] = {}
    start = today - timedelta(days=adherence.WINDOW_DAYS - 1)
    end_day = (today - EPOCH).days
    for r in await queries.pdc_rows(journey_ids, today, start, adherence.CHRONIC_PREFIXES):
        days = end_day - int(r["first_s"]) + 1
        if days > 0:
            per_member.setdefault(r["member"], []).append(100 * int(r["covered"]) / days)
    pdc = mean_difference(
        [sum(v) / len(v) for m, v in per_member.items() if m in treated_members],
        [sum(v) / len(v) for m, v in per_member.items() if m in held_members],
    )
    all_converted = await queries.outcomes(journey_ids, CONVERSION_DAYS, today + timedelta(days=1))
    converted = sum(1 for r in all_converted if not r["held_out"] and int(r["sales"]) and as_date(r["anchor_on"]))
    return JourneyStats(
        totals["enrolled"],
        totals["held_out"],
        totals["active"],
        totals["completed"],
        totals["exited"],
        steps,
        converted,
        repurchase,
        revenue,
        pdc,
    )
