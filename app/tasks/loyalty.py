"""Loyalty jobs: the nightly points expiry and the yearly tier review (both set-based and idempotent)."""

from __future__ import annotations

from typing import Any

from app.components import loyalty


async def expire_points(ctx: dict[str, Any]) -> int:
    """Expire points whose last day has passed (FIFO, one entry per member per day); returns members affected."""
    return await loyalty.expire_points()


async def review_tiers(ctx: dict[str, Any]) -> int:
    """Run the yearly tier review when it is due (the configured review date has passed since the member's last
    review); on other days nothing is due and nothing changes. Returns how many members changed tier."""
    return await loyalty.review_tiers()
