"""Redemption and restoration: a sale marks its coupons redeemed at most once (a code used meanwhile, also by a
concurrent sale, fails the sale); a return makes them valid again where the template says so."""

from __future__ import annotations

from datetime import UTC, datetime

from app.components.core.actor import StaffUser
from app.components.core.errors import ValidationFailed
from app.components.coupons import queries
from app.components.coupons.codes import normalize_code
from app.i18n import _


async def redeem_coupons(codes: list[str], member_id: int | None, sale_id: int, actor: StaffUser | None) -> None:
    """(in txn) Mark the coupons redeemed by this sale. The update is conditional on status 'issued', so a code
    already used — also by a concurrent sale — raises ValidationFailed (field "coupon") and the sale rolls back.
    A retry of the same sale is a no-op."""
    now = datetime.now(UTC)
    for raw in codes:
        code = normalize_code(raw)
        if await queries.redeem(code, sale_id, member_id, now):
            continue
        if not await queries.redeemed_by_sale(code, sale_id):
            raise ValidationFailed({"coupon": _("Coupon %(code)s has already been used.") % {"code": code}})


async def restore_coupons(sale_id: int, actor: StaffUser | None) -> list[str]:
    """(in txn) Make the coupons a returned sale used valid again, where their template says so; their codes."""
    return sorted(await queries.restore(sale_id))
