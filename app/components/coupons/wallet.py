"""A member's coupon wallet: the coupons usable today, soonest to expire first (shown with the points at every
counter scan: one query)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from app.components.coupons import queries
from app.components.coupons.templates import template_view
from app.db import as_date


@dataclass(frozen=True)
class WalletCoupon:
    """A coupon the member can use today."""

    code: str
    name: str
    benefit: str
    scope: str
    valid_to: date | None
    stackable: bool


async def wallet(member_id: int, on_date: date) -> list[WalletCoupon]:
    """The member's usable coupons, soonest to expire first."""
    rows = await queries.wallet_rows(member_id, on_date)
    out = []
    for r in rows:
        t = template_view(r)
        out.append(
            WalletCoupon(r["coupon_code"], t.name, t.benefit, t.scope_text, as_date(r["c_valid_to"]), t.stackable)
        )
    return out
