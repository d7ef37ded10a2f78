"""Expiry and write-off: batches that expire soon (or have), and taking what may not be sold out of stock."""

from __future__ import annotations

import uuid
from datetime import timedelta

from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.core.errors import ValidationFailed
from app.components.stock import queries
from app.components.stock.batches import AVAILABLE, RECALLED, BatchView, batch_view, get_batch
from app.components.stock.ledger import MAX_KEY, move
from app.db import transaction
from app.i18n import _

# A batch written off from a list (expired, damaged): a stock move out of everything on hand.
WRITE_OFF_ACTION = "stock.write_off"


async def expiring(store_id: int | None, within_days: int = 90) -> list[BatchView]:
    """Batches with stock that expire within `within_days` of the store date (already expired ones too),
    first expiry first; every store when `store_id` is None. Recalled batches are left out; at most 500 rows."""
    horizon = store_today() + timedelta(days=max(0, within_days))
    return [batch_view(r) for r in await queries.expiring_rows(horizon, RECALLED, store_id)]


async def write_off(batch_id: int, reason: str, actor: StaffUser, key: str = "") -> BatchView:
    """Take everything left of a batch that may not be sold (expired, quarantined or recalled) out of stock: one
    "write_off" move of minus what is on hand, with a reason (audited). A sellable batch is refused (quarantine
    it or correct the count instead). Idempotent by `key` (a fresh one when empty): a double tap writes off once.
    """
    errors = {}
    if not (reason or "").strip():
        errors["reason"] = _("Say why the stock is written off.")
    if len(key or "") > MAX_KEY:
        errors["key"] = _("The idempotency key has at most %(n)s characters.") % {"n": MAX_KEY}
    if errors:
        raise ValidationFailed(errors)
    move_key = f"write_off:{key or uuid.uuid4().hex}"
    async with transaction():
        # The batch row locked first, so a sale or a second write-off waits and then sees what is left.
        await queries.lock_batch(batch_id)
        view = await get_batch(batch_id, actor.store_id)
        if await queries.move_exists(move_key):
            return view
        if view.state == AVAILABLE:
            raise ValidationFailed(
                {"reason": _("This batch may still be sold: quarantine it first, or correct the count.")}
            )
        if view.on_hand <= 0:
            raise ValidationFailed({"reason": _("Nothing of this batch is left to write off.")})
        change = f"{view.state}, {view.on_hand} written off"
        await move(view, -view.on_hand, "write_off", reason, move_key, actor, WRITE_OFF_ACTION, change)
        return await get_batch(batch_id)
