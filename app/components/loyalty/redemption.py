"""Redeeming points: as a tender on a sale (in steps the rules allow, paying whole fen) or for a gift, never more
than the balance, with the member's loyalty row locked first so two counters cannot spend the same points."""

from __future__ import annotations

from app.components import audit
from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.core.errors import ValidationFailed
from app.components.loyalty import queries
from app.components.loyalty.ledger import write
from app.components.loyalty.rules import LoyaltyRules, rules
from app.db import transaction
from app.i18n import _

GIFT_REDEEM = "loyalty.gift"


def redeem_value(points: int, r: LoyaltyRules) -> int:
    """Fen a number of points pays (rounded down)."""
    return points * 100 // r.redeem_points_per_yuan


async def redeem(member_id: int, points: int, sale_no: str, store_id: int | None, actor: StaffUser | None) -> int:
    """(in txn) Spend points as a tender on a sale (key redeem:{sale_no}); returns the fen they pay.

    Concurrency-safe: the member's loyalty row is locked before the balance is read, so two counters spending
    the same points cannot both succeed.
    """
    return await _spend(member_id, points, "redeem", sale_no, f"redeem:{sale_no}", store_id, actor)


async def redeem_gift(member_id: int, points: int, gift_name: str, key: str, actor: StaffUser | None) -> int:
    """Exchange points for a gift (idempotent by `key`); returns the points taken."""
    gift_name = (gift_name or "").strip()
    if not gift_name or len(gift_name) > 40:
        raise ValidationFailed({"gift": _("Name the gift (at most 40 characters).")})
    async with transaction():
        await _spend(member_id, points, "gift", gift_name, f"gift:{key}", actor.store_id if actor else None, actor)
        if actor is not None:
            await audit.record(actor, GIFT_REDEEM, member_id, f"{gift_name}: {points}")
    return points


async def _spend(
    member_id: int, points: int, kind: str, ref: str, key: str, store_id: int | None, actor: StaffUser | None
) -> int:
    r = await rules()
    if points <= 0:
        raise ValidationFailed({"points": _("Enter a number of points above zero.")})
    if kind == "redeem" and (points * 100) % r.redeem_points_per_yuan:
        raise ValidationFailed(
            {"points": _("Redeem points in steps of %(n)s.") % {"n": r.redeem_points_per_yuan // 100 or 1}}
        )
    await queries.lock_member(member_id, store_today())
    existing = await queries.entry(key)
    if existing is not None:  # a retry of the same sale or gift
        return redeem_value(-int(existing["points"]), r) if kind == "redeem" else -int(existing["points"])
    available = await queries.ledger_sum(member_id)
    if points > available:
        raise ValidationFailed(
            {"points": _("Only %(n)s points are available.") % {"n": available}},
        )
    await write(member_id, kind, -points, ref, key, None, store_id, actor)
    return redeem_value(points, r) if kind == "redeem" else points
