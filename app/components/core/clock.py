"""The store's clock: today's date in the chain's time zone, and ages on a day."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from app.settings import get_settings


def age_on(birth: date | None, today: date) -> int | None:
    """Whole years between `birth` and `today`."""
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def store_today() -> date:
    """Today's date in the chain's time zone."""
    return datetime.now(ZoneInfo(get_settings().timezone)).date()
