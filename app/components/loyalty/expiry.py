"""Expiry lots (FIFO): points earned count to the end of the 12th month after; outflows use the oldest lot first;
the expiry job takes, for every member at once, what is left of lots past their last day."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime

from app.components.core.clock import store_today
from app.components.loyalty import queries
from app.db import as_date, transaction


def expiry_for(earned_on: date) -> date:
    """The last day points earned on `earned_on` count: the end of the 12th month after that month."""
    year, month = earned_on.year + 1, earned_on.month
    return date(year, month, calendar.monthrange(year, month)[1])


def fifo_remaining(lots: list[tuple[date, int]], outflow: int) -> list[tuple[date, int]]:
    """What is left of each lot (date ascending) after `outflow` points were taken, oldest lot first."""
    left = []
    for on, points in sorted(lots):
        take = min(max(points, 0), outflow)
        outflow -= take
        if points - take > 0:
            left.append((on, points - take))
    return left


async def expiring(member_id: int, today: date | None = None) -> list[tuple[date, int]]:
    """(last valid day, points) still to expire, soonest first — the same FIFO the expiry job applies."""
    today = today or store_today()
    rows, outflow = await queries.lots(member_id)
    lots = [(as_date(r["expires_on"]), int(r["points"])) for r in rows]
    return [(d, p) for d, p in fifo_remaining(lots, outflow) if d >= today]


async def expire_points(today: date | None = None) -> int:
    """Expire, for every member at once, the points of lots past their last day not already used (FIFO).

    Amount per member = max(0, lots expired before today (net of their reversals) − every outflow so far,
    earlier expiries included), one entry keyed expire:{member}:{today}: running twice changes nothing.
    Returns how many members lost points.
    """
    today = today or store_today()
    stamp = today.isoformat()
    async with transaction():
        inserted = await queries.expire_lots(stamp, today, datetime.now(UTC))
        if inserted:
            await queries.refresh_after_expiry(stamp)
    return len(inserted)
