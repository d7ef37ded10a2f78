"""Printed coupons: bearer codes of a template (anyone may redeem one once), at most 500 a batch; posting the same
batch key again returns the same codes instead of printing more."""

from __future__ import annotations

from datetime import UTC, datetime

from app.components import audit
from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.core.errors import ValidationFailed
from app.components.coupons import queries
from app.components.coupons.codes import new_code
from app.components.coupons.issuing import Issued, validity
from app.components.coupons.templates import get_template
from app.db import as_date, transaction
from app.i18n import _

COUPON_PRINT = "coupon.print"
MAX_PRINT = 500


async def print_codes(template_code: str, count: int, actor: StaffUser, batch_key: str = "") -> list[Issued]:
    """`count` printed (bearer) codes of a template. With `batch_key`, posting the same batch again returns the
    same codes instead of printing more."""

    if not 1 <= count <= MAX_PRINT:
        raise ValidationFailed({"count": _("Print between 1 and %(n)s codes.") % {"n": MAX_PRINT}})
    t = await get_template(template_code)
    if not t.active:
        raise ValidationFailed({"count": _("Coupon template %(code)s is no longer active.") % {"code": t.code}})
    start, end = validity(t, store_today())
    now = datetime.now(UTC)
    out: list[Issued] = []
    async with transaction():
        for i in range(count):
            key = f"print:{batch_key}:{i}" if batch_key else None
            row = await queries.insert_coupon(new_code(), t.id, None, "printed", key, start, end, now)
            if row is None:
                row = await queries.by_source_key(key)  # type: ignore[arg-type]
                assert row is not None
            out.append(Issued(row["code"], as_date(row["valid_from"]), as_date(row["valid_to"])))
        await audit.record(actor, COUPON_PRINT, None, f"{t.code} ×{count}")
    return out
