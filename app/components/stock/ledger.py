"""The stock-move ledger: every change of a batch's stock is one appended move, keyed so a retry moves nothing
twice, with the batch's cached `on_hand` moved in the same transaction; counts corrected by an "adjust" move."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from app.components import audit
from app.components.core.actor import StaffUser
from app.components.core.errors import ValidationFailed
from app.components.stock import queries
from app.components.stock.batches import BatchView, get_batch
from app.db import transaction
from app.i18n import _

ADJUST_ACTION = "stock.adjust"
MAX_QTY = 1_000_000
MAX_KEY = 80


def parse_qty(value: int | str) -> int | None:
    """A whole number of packs as given (an int or its digits, perhaps negative); None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value or "").strip()
    return int(text) if text.isdigit() or (text.startswith("-") and text[1:].isdigit()) else None


async def move(
    view: BatchView, qty: int, kind: str, reason: str, move_key: str, actor: StaffUser, action: str, change: str
) -> None:
    """One move of `qty` into (negative: out of) a batch, its cached on_hand with it, and the audit event that says
    why (call inside `transaction()`)."""
    await queries.insert_move(
        view.id, view.store_id, view.product_id, qty, kind, reason.strip()[:40], move_key, actor.id, datetime.now(UTC)
    )
    await queries.add_on_hand(view.id, qty)
    await audit.record(
        actor,
        action,
        None,
        f"{view.store_code} {view.sku} batch {view.batch_no} (#{view.id}): {change}; {reason.strip()}"[:500],
    )


async def adjust(batch_id: int, counted: int | str, reason: str, actor: StaffUser, key: str = "") -> BatchView:
    """Correct a batch to a physical count: one "adjust" move of the difference, with a reason (audited).

    Idempotent by `key` (a fresh one when empty).
    """
    errors = {}
    count = parse_qty(counted)
    if count is None or count < 0:
        errors["counted"] = _("Enter the counted quantity (a whole number, zero or more).")
    elif count > MAX_QTY:
        errors["counted"] = _("At most %(n)s packs per receipt.") % {"n": MAX_QTY}
    if not (reason or "").strip():
        errors["reason"] = _("Say why the count differs.")
    if len(key or "") > MAX_KEY:
        errors["key"] = _("The idempotency key has at most %(n)s characters.") % {"n": MAX_KEY}
    if errors:
        raise ValidationFailed(errors)
    assert count is not None
    move_key = f"adjust:{key or uuid.uuid4().hex}"
    async with transaction():
        view = await get_batch(batch_id, actor.store_id)
        if await queries.move_exists(move_key):
            return view
        delta = count - view.on_hand
        if delta == 0:
            return view
        await move(view, delta, "adjust", reason, move_key, actor, ADJUST_ACTION, f"{view.on_hand} → {count}")
        return await get_batch(batch_id)
