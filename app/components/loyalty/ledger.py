"""The points ledger: append-only entries, each with a unique key so a retry writes nothing twice; a balance is
the sum of a member's entries, cached on member_loyalty and moved in the same transaction as the entry."""

from __future__ import annotations

from datetime import UTC, date, datetime

from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.loyalty import queries
from app.i18n import _

# Entries that add points carry the last day they count (a lot); outflows (redeem, expire, gift) carry none.
LOT_KINDS = ("earn", "restore", "reverse")
OUTFLOW_KINDS = ("redeem", "expire", "gift")


def kind_label(kind: str) -> str:
    """A ledger entry kind in the current language."""
    return {
        "earn": _("Earned"),
        "redeem": _("Redeemed"),
        "expire": _("Expired"),
        "reverse": _("Reversed (return)"),
        "restore": _("Restored (return)"),
        "adjust": _("Adjusted"),
        "gift": _("Gift"),
    }.get(kind, kind)


async def write(
    member_id: int,
    kind: str,
    points: int,
    ref: str,
    key: str,
    expires_on: date | None,
    store_id: int | None,
    actor: StaffUser | None,
    move_balance: bool = True,
) -> bool:
    """Append one entry and move the cached balance with it (unless the caller does, `move_balance=False`);
    False when the key was already there."""
    written = await queries.insert_entry(
        member_id,
        kind,
        points,
        ref[:40],
        key,
        expires_on,
        store_id,
        actor.id if actor else None,
        datetime.now(UTC),
    )
    if not written:
        return False
    if move_balance:
        await queries.move_balance(member_id, points)
    return True


async def balance(member_id: int) -> int:
    """The member's points: the sum of the ledger."""
    return await queries.ledger_sum(member_id)


async def refresh_cache(member_ids: list[int]) -> None:
    """Recompute the cached balance of a few members from their ledgers (after a merge moved entries)."""
    if not member_ids:
        return
    today = store_today()
    for member_id in member_ids:  # the survivor and the merged record of one merge
        await queries.lock_member(member_id, today)
    await queries.refresh_balances(member_ids)


async def check_balances() -> list[dict]:
    """Members whose cached balance differs from the sum of their ledger (should be none)."""
    return await queries.drifted_balances()
