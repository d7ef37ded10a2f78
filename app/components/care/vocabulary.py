"""The codes a journey may name, read from the domains that own them (message and coupon templates …)."""

from __future__ import annotations

from app.components import catalog, coupons, health, messages
from app.components.care.definitions import Known


async def known() -> Known:
    """The message templates, active coupon templates, categories and conditions a definition may name."""
    return Known(
        templates={t.code: t.purpose for t in messages.templates() if t.purpose != "staff"},
        coupons=frozenset(t.code for t in await coupons.templates() if t.active),
        categories=frozenset(catalog.CATEGORIES_L1),
        conditions=frozenset(health.CONDITIONS),
    )
