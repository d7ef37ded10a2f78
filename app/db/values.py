"""Values as the engine hands them back: SQLite returns dates and times as text (and times maybe naive), PostgreSQL
as date and datetime objects. Every domain reads stored dates and times through these two."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any


def as_date(value: Any) -> date | None:
    """A stored date as a date (a timestamp gives its date; text its first ten characters); None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def as_datetime(value: Any) -> datetime | None:
    """A stored time as an aware datetime (naive means UTC, as every time is stored); None stays None."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
