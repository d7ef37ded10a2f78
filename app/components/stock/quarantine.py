"""Returned packs in quarantine: what a customer brings back is never sellable at once; it waits, held, until a
manager releases it to its batch (a "release" move) or writes it off, with a reason, audited. Dispensed Rx,
antibiotic and cold-chain medicines, packs sold without a batch, and recalled or expired batches can only be
written off."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime

from app.components import audit
from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.core.errors import NotFound, ValidationFailed
from app.components.stock import queries
from app.components.stock.allocation import lock_store
from app.components.stock.batches import RECALLED, product_name
from app.db import as_date, transaction
from app.i18n import _

# A returned pack waits in quarantine (held) until a manager releases it to its batch or writes it off.
HELD, RELEASED, WRITTEN_OFF = "held", "released", "written_off"
RELEASE_ACTION = "stock.returned_release"
RETURNED_WRITE_OFF_ACTION = "stock.returned_write_off"


@dataclass(frozen=True)
class ReturnedPackView:
    """Units of one batch a customer brought back, with what became of them."""

    id: int
    store_id: int
    store_code: str
    product_id: int
    sku: str
    product_name: str
    batch_id: int | None
    batch_no: str | None
    expiry: date | None
    batch_status: str | None
    sale_no: str
    return_no: str
    line_no: int
    qty: int
    restricted: bool
    status: str
    staff_name: str | None
    created_at: datetime | None
    decided_by_name: str | None
    decided_at: datetime | None
    decision_reason: str

    @property
    def release_refusal(self) -> str:
        """Why the pack cannot be released to sellable stock ("" when it can)."""
        if self.restricted:
            return _("Dispensed prescription, antibiotic and cold-chain medicines are not resold: write it off.")
        if self.batch_id is None:
            return _("It was sold beyond recorded stock, so it has no batch to go back to: write it off.")
        if self.batch_status == RECALLED:
            return _("Its batch is recalled: write it off.")
        if self.expiry is not None and self.expiry < store_today():
            return _("Its batch has expired: write it off.")
        return ""


def _pack_view(row: dict) -> ReturnedPackView:
    # queries.PACK_SELECT names its columns after the view's fields; these four need converting.
    values = {f.name: row.get(f.name) for f in fields(ReturnedPackView)}
    return ReturnedPackView(
        **{
            **values,
            "product_name": product_name(row),
            "expiry": as_date(row["expiry"]),
            "restricted": bool(row["restricted"]),
            "decision_reason": row["decision_reason"] or "",
        }
    )


def pack_status_label(status: str) -> str:
    """A returned pack's status in the current language."""
    return {
        HELD: _("In quarantine"),
        RELEASED: _("Released to stock"),
        WRITTEN_OFF: _("Written off"),
    }.get(status, status)


async def returned_packs(store_id: int, held: bool = True, limit: int = 100) -> list[ReturnedPackView]:
    """A store's returned packs: those still in quarantine (oldest first), or those decided (newest first)."""
    rows = await queries.pack_rows(store_id, HELD, held, max(1, min(int(limit), 500)))
    return [_pack_view(r) for r in rows]


async def returned_pack(pack_id: int, store_id: int | None = None) -> ReturnedPackView:
    """One returned pack; NotFound when unknown or (with `store_id`) another store's."""
    row = await queries.pack_row(pack_id)
    if row is None or (store_id is not None and row["store_id"] != store_id):
        raise NotFound(_("No returned pack %(id)s in this store.") % {"id": pack_id})
    return _pack_view(row)


async def _decide(pack_id: int, status: str, reason: str, actor: StaffUser) -> tuple[ReturnedPackView, bool]:
    """Mark a held pack released or written off (inside the caller's transaction); (the pack, whether this call
    decided it). A pack already decided is returned as it is: a double tap decides once."""
    if not (reason or "").strip():
        raise ValidationFailed({"reason": _("Say why (for the audit trail).")})
    pack = await returned_pack(pack_id, actor.store_id)
    if pack.status != HELD:
        return pack, False
    if status == RELEASED and pack.release_refusal:
        raise ValidationFailed({"reason": pack.release_refusal})
    # Conditional: of two managers deciding the same pack at once, one wins.
    decided = await queries.decide_pack(pack_id, status, actor.id, datetime.now(UTC), reason.strip()[:500], HELD)
    return pack, decided


async def release_returned(pack_id: int, reason: str, actor: StaffUser) -> ReturnedPackView:
    """Put a returned pack back into its batch's stock (a "release" move), with a reason (audited).

    Refused (ValidationFailed on "reason") for restricted medicines, packs without a batch and recalled or expired
    batches: those can only be written off. A store's staff decide only their own store's packs (else NotFound).
    """
    async with transaction():
        pack, decided = await _decide(pack_id, RELEASED, reason, actor)
        if decided:
            inserted = await queries.insert_move_once(
                pack.batch_id,
                pack.store_id,
                pack.product_id,
                pack.qty,
                "release",
                pack.return_no,
                f"release:{pack.id}",
                actor.id,
                datetime.now(UTC),
            )
            if inserted:
                await queries.add_on_hand(pack.batch_id, pack.qty)  # type: ignore[arg-type]
            await audit.record(actor, RELEASE_ACTION, None, _pack_detail(pack, reason))
        return await returned_pack(pack_id)


async def write_off_returned(pack_id: int, reason: str, actor: StaffUser) -> ReturnedPackView:
    """Write a returned pack off (it never goes back to stock: the quarantine move already took it out), with a
    reason (audited). A store's staff decide only their own store's packs (else NotFound)."""
    async with transaction():
        pack, decided = await _decide(pack_id, WRITTEN_OFF, reason, actor)
        if decided:
            await audit.record(actor, RETURNED_WRITE_OFF_ACTION, None, _pack_detail(pack, reason))
        return await returned_pack(pack_id)


def _pack_detail(pack: ReturnedPackView, reason: str) -> str:
    batch = pack.batch_no or "—"
    return (
        f"{pack.store_code} {pack.sku} batch {batch} ×{pack.qty} from {pack.return_no} ({pack.sale_no}, pack "
        f"#{pack.id}); {reason.strip()}"
    )[:500]


async def _line_moves(sale_no: str, line_no: int) -> list[dict]:
    """The sale and return moves of one sale line (found by the sale number in `ref`)."""
    rows = await queries.line_moves(sale_no)
    sale_prefix = f"sale:{sale_no}:{line_no}:"
    # Return keys are return:{return_no}:{line_no}:{batch}; the line number is the second field from the end.
    return [
        r
        for r in rows
        if r["key"].startswith(sale_prefix) or (r["kind"] == "return" and r["key"].rsplit(":", 2)[1] == str(line_no))
    ]


async def quarantine_return(
    store_id: int,
    sale_no: str,
    line_no: int,
    qty: int,
    return_no: str,
    actor: StaffUser,
    restricted: bool = False,
) -> list[int]:
    """Take `qty` returned units of a sale line back into quarantine (call inside `transaction()`); return the ids of
    the returned packs held.

    The units come back into the batches the line took them from (first expiry first, never more into a batch
    than the line took from it less earlier returns; a shortfall the line sold without stock against no batch):
    a "return" move per batch, then at once a "quarantine" move out of it, so the batch's sellable stock does not
    change and the units wait in a `returned_pack` row for a manager to release or write them off. `restricted`
    (dispensed Rx, antibiotic, cold chain) packs can only be written off. A retry with the same return_no and line
    moves nothing. The moves carry the sale number in `ref` (the return number is in the key) so a line's moves
    are found together.
    """
    if qty <= 0:
        return []
    await lock_store(store_id)
    moves = await _line_moves(sale_no, line_no)
    if any(m["kind"] == "return" and m["key"].startswith(f"return:{return_no}:{line_no}:") for m in moves):
        return await queries.pack_ids_like(f"{return_no}:{line_no}:%")
    open_qty: dict[int | None, int] = {}
    product_id = None
    for m in moves:
        if m["kind"] == "sale":
            open_qty[m["batch"]] = open_qty.get(m["batch"], 0) - m["qty"]
            product_id = m["product"]
    for m in moves:
        if m["kind"] == "return":
            open_qty[m["batch"]] = open_qty.get(m["batch"], 0) - m["qty"]
    if product_id is None:
        raise NotFound(_("Sale %(sale)s line %(line)s took nothing from stock.") % {"sale": sale_no, "line": line_no})
    if qty > sum(open_qty.values()):
        raise ValidationFailed(
            {"qty": _("At most %(n)s of this line can still be returned.") % {"n": sum(open_qty.values())}}
        )
    now = datetime.now(UTC)
    remaining = qty
    held: list[int] = []
    # Batches in the order the sale took them; the shortfall (no batch) last.
    for batch_id in [b for b in open_qty if b is not None] + ([None] if None in open_qty else []):
        put = min(remaining, open_qty[batch_id])
        if put <= 0:
            continue
        suffix = f"{return_no}:{line_no}:{'none' if batch_id is None else batch_id}"
        # In and straight out again: the batch's on_hand (the sum of its moves) is unchanged.
        await queries.insert_return_moves(batch_id, store_id, product_id, put, sale_no, suffix, actor.id, now)
        held += await queries.insert_pack(
            suffix, store_id, product_id, batch_id, sale_no, return_no, line_no, put, restricted, HELD, actor.id, now
        )
        remaining -= put
        if remaining == 0:
            break
    return held
