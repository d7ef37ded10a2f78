"""Member tiers: regular, silver, gold, diamond by rolling 12-month spend; an upgrade applies at once (see
`earning.earn`), downgrades only at the yearly review, a set-based job that catches up when a run was missed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from app.components.core.clock import store_today
from app.components.loyalty import queries
from app.components.loyalty.rules import rules
from app.db import transaction
from app.i18n import _

TIERS = ("regular", "silver", "gold", "diamond")


def tier_label(tier: str) -> str:
    """A tier's name in the current language."""
    return {
        "regular": _("Regular"),
        "silver": _("Silver"),
        "gold": _("Gold"),
        "diamond": _("Diamond"),
    }.get(tier, tier)


async def tier_of(member_id: int) -> str:
    """The member's tier (regular when never recorded)."""
    return await queries.tier(member_id) or "regular"


async def review_tiers(today: date | None = None, now: datetime | None = None) -> int:
    """The yearly review (set-based): every member not reviewed since the last review date gets the tier their
    rolling 12-month spend reaches (downgrades included). Idempotent; a missed run catches up. Returns how many
    members changed tier."""
    today = today or store_today()
    r = await rules()
    due = r.last_review(today)
    since = (now or datetime.now(UTC)) - timedelta(days=365)
    async with transaction():
        return await queries.review(today, due, since, (r.diamond_fen, r.gold_fen, r.silver_fen))
