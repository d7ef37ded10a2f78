"""Refill and adherence rules on one member's fills: shifting overlaps, the refill-due day, PDC (PQA method).

A fill of D days' supply started on day S covers S … S+D−1. A fill started while earlier supply lasts is shifted
to start the day after it ends (the member finishes one pack before opening the next). The refill is due on the
first day without medicine: the last shifted day covered + 1. PDC (proportion of days covered, PQA): over a
180-day window ending today, from the first fill in the window to its end, counted only with fills on at least
two different days; covered days (after shifting, clipped to the window) ÷ those days; adherent at ≥ 80 %."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

WINDOW_DAYS = 180
ADHERENT_PCT = 80
MIN_FILL_DATES = 2


@dataclass(frozen=True)
class Fill:
    """One dispensing: its first day and its days of supply."""

    started_on: date
    days: int


def shifted(fills: list[Fill]) -> list[tuple[date, date]]:
    """Each fill's (first, last) day covered after shifting overlaps forward, in dispensing order."""
    out: list[tuple[date, date]] = []
    last: date | None = None
    for f in sorted(fills, key=lambda f: f.started_on):
        start = f.started_on if last is None or f.started_on > last else last + timedelta(days=1)
        end = start + timedelta(days=f.days - 1)
        out.append((start, end))
        last = end
    return out


def refill_due(fills: list[Fill]) -> date | None:
    """The first day without medicine, or None without fills."""
    spans = shifted(fills)
    return spans[-1][1] + timedelta(days=1) if spans else None


@dataclass(frozen=True)
class Pdc:
    """The proportion of days covered over the window, in whole percent (None when it cannot be counted)."""

    covered: int
    days: int
    fill_dates: int

    @property
    def counted(self) -> bool:
        return self.fill_dates >= MIN_FILL_DATES and self.days > 0

    @property
    def percent(self) -> int | None:
        return self.covered * 100 // self.days if self.counted else None

    @property
    def adherent(self) -> bool | None:
        # Integer arithmetic: 80 % exactly is adherent, 79.99 % is not.
        return self.covered * 100 >= ADHERENT_PCT * self.days if self.counted else None


def pdc(fills: list[Fill], today: date, window: int = WINDOW_DAYS) -> Pdc:
    """PDC of the fills dispensed in the `window` days ending `today`."""
    start = today - timedelta(days=window - 1)
    inside = [f for f in fills if start <= f.started_on <= today]
    if not inside:
        return Pdc(0, 0, 0)
    first = min(f.started_on for f in inside)
    covered = 0
    for s, e in shifted(inside):
        if s > today:
            continue
        covered += (min(e, today) - s).days + 1
    return Pdc(covered, (today - first).days + 1, len({f.started_on for f in inside}))
