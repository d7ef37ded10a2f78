"""Does it work? Per-step counts, and treated vs held-out members compared with a 95 % confidence interval."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from app.components import adherence
from app.components.care import queries
from app.components.care.definitions import CONVERSION_DAYS

Z95 = 1.959963984540054


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


def mean_difference(n1: int, sum1: float, squares1: float, n0: int, sum0: float, squares0: float) -> Difference:
    """Difference of two means from their sums and sums of squares (Welch's standard error, normal
    approximation), so a journey's members are summed in SQL, not in a Python loop."""
    m1 = sum1 / n1 if n1 else None
    m0 = sum0 / n0 if n0 else None
    if n1 < 2 or n0 < 2 or m1 is None or m0 is None:
        return Difference(m1, m0, None, None, None, n1, n0)
    v1 = max(0.0, (squares1 - n1 * m1 * m1) / (n1 - 1))
    v0 = max(0.0, (squares0 - n0 * m0 * m0) / (n0 - 1))
    se = math.sqrt(v1 / n1 + v0 / n0)
    d = m1 - m0
    return Difference(m1, m0, d, d - Z95 * se, d + Z95 * se, n1, n0)


def _moments(row: dict) -> tuple[int, float, float]:
    return int(row["n"]), float(row["total"] or 0), float(row["squares"] or 0)


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
    failed: int = 0  # could not be done (the enrolment left the journey; the worker's log says why)


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


@dataclass(frozen=True)
class EnrolmentTotals:
    """How many members a journey (all its versions) enrolled, held out, has running, completed, let go."""

    enrolled: int
    held_out: int
    active: int
    completed: int
    exited: int


async def enrolment_totals(journey_ids: list[int]) -> EnrolmentTotals:
    """The journeys list's numbers: one grouped count, nothing of the comparison."""
    totals = {"enrolled": 0, "held_out": 0, "active": 0, "completed": 0, "exited": 0}
    for r in await queries.enrolment_counts(journey_ids):
        n = int(r["n"])
        totals["enrolled"] += n
        totals["held_out"] += n if r["held_out"] else 0
        totals[r["status"]] = totals.get(r["status"], 0) + n
    return EnrolmentTotals(**totals)


async def journey_stats(journey_ids: list[int], today: date, has_messages: bool = True) -> JourneyStats:
    """Counts per step and the treated / held-out comparison over enrolments whose window has closed."""
    totals = await enrolment_totals(journey_ids)
    by_step: dict[int, dict] = {}
    for r in await queries.step_counts(journey_ids):
        s = by_step.setdefault(
            int(r["step"]), {"action": r["action"], "done": 0, "skipped": 0, "held_out": 0, "failed": 0}
        )
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
        StepCount(
            n, s["action"], s["done"], s["skipped"], s["held_out"], sent.get(n, 0), delivered.get(n, 0), s["failed"]
        )
        for n, s in sorted(by_step.items())
    ]
    closed = today - timedelta(days=CONVERSION_DAYS)
    sums = {
        (int(bool(r["held_out"])), int(r["closed"])): r
        for r in await queries.outcome_sums(journey_ids, CONVERSION_DAYS, closed, today)
    }
    zero = {"n": 0, "bought": 0, "total": 0, "squares": 0}
    t, h = sums.get((0, 1), zero), sums.get((1, 1), zero)
    repurchase = proportion_difference(int(t["bought"] or 0), int(t["n"]), int(h["bought"] or 0), int(h["n"]))
    revenue = mean_difference(*_moments(t), *_moments(h))
    converted = sum(int(r["bought"] or 0) for (held, _closed), r in sums.items() if not held)
    # PDC now (180 days, chronic groups) of the members of closed windows, treated vs held out.
    start = today - timedelta(days=adherence.WINDOW_DAYS - 1)
    by_group = {
        int(r["held_out"]): r
        for r in await queries.pdc_sums(journey_ids, today, start, closed, adherence.CHRONIC_PREFIXES)
    }
    pdc = mean_difference(*_moments(by_group.get(0, zero)), *_moments(by_group.get(1, zero)))
    return JourneyStats(
        totals.enrolled,
        totals.held_out,
        totals.active,
        totals.completed,
        totals.exited,
        steps,
        converted,
        repurchase,
        revenue,
        pdc,
    )
