"""Reversal on returns: points redeemed on the returned part come back as a new lot, points earned on it are taken
back against the sale's own lot, never below a zero balance; once per return."""

from __future__ import annotations

from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.loyalty import queries
from app.components.loyalty.expiry import expiry_for
from app.components.loyalty.ledger import write
from app.db import as_date


async def reverse_for_return(
    member_id: int,
    sale_no: str,
    return_no: str,
    earned_points_to_reverse: int,
    redeemed_points_to_restore: int,
    store_id: int | None,
    actor: StaffUser | None,
) -> tuple[int, int]:
    """(in txn) Give back points redeemed on the returned part (a new lot as if earned today) and take back points
    earned on it (against the sale's own lot), never below a zero balance: the shortfall is not reversed.
    Idempotent by return_no. Returns (reversed, restored)."""
    today = store_today()
    await queries.lock_member(member_id, today)
    done_reverse = await queries.entry(f"reverse:{return_no}")
    done_restore = await queries.entry(f"restore:{return_no}")
    if done_reverse is not None or done_restore is not None:
        return (
            -int(done_reverse["points"]) if done_reverse else 0,
            int(done_restore["points"]) if done_restore else 0,
        )
    s = await queries.sale_sums(member_id, sale_no)
    restore = max(0, min(redeemed_points_to_restore, int(s["redeemed"]) - int(s["restored"])))
    if restore:
        await write(member_id, "restore", restore, sale_no, f"restore:{return_no}", expiry_for(today), store_id, actor)
    earn_entry = await queries.entry(f"earn:{sale_no}")
    balance = await queries.ledger_sum(member_id)
    reverse = max(0, min(earned_points_to_reverse, int(s["earned"]) - int(s["reversed"]), balance))
    if reverse and earn_entry is not None:
        await write(
            member_id,
            "reverse",
            -reverse,
            sale_no,
            f"reverse:{return_no}",
            as_date(earn_entry["expires_on"]),
            store_id,
            actor,
        )
    return reverse, restore
