"""Returns: refunding some or all of a sale once per idempotency key — to the sale's own tenders (or another, with
a reason), units into quarantine, points reversed, dispensed Rx, antibiotic and cold-chain lines by the chain rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.components import audit, catalog, coupons, events, loyalty, stock, timeline
from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import RETURN_ROLES, Role
from app.components.sales import chain_settings, numbers
from app.components.sales.approvals import verify_pin
from app.components.sales.queries import returns as return_sql
from app.components.sales.queries import sale as sale_sql
from app.components.sales.requests import NotPermitted, Replay, ReturnRequest
from app.components.sales.search import get_sale, load_sale
from app.components.sales.views import ReturnResult, SaleLineView, SaleView, product_qty
from app.db import as_date, transaction
from app.i18n import N_, _, join_list

# Timeline kind and audit actions of a return.
RETURNED = "return"
RETURN_APPROVAL = "sale.return_approval"
REFUND_TENDER_CHANGE = "sale.refund_tender_change"


# A refund goes back to the sale's own tenders, filled in this order (within a kind, in the order they were paid):
# value that can never become cash first (points back to points, medical-insurance funds back to the insurance
# account), then the electronic tenders back to the account they came from, cash last. So a partial return never
# turns points, insurance or a card or wallet payment into cash, and the drawer pays out only cash it took in
# (less the change it gave).
REFUND_ORDER = ("points", "insurance", "bank_card", "alipay", "wechat", "cash")
# Staff may pay a refund to one of these instead of the sale's tenders, with a reason (recorded and audited);
# points and medical insurance always go back where they came from.
OTHER_REFUND_KINDS = ("cash", "bank_card", "wechat", "alipay")
FIXED_REFUND_KINDS = ("points", "insurance")
# Who may allow the return of a dispensed Rx, antibiotic or cold-chain medicine (when the chain allows it at all).
RETURN_APPROVER_ROLES = frozenset({Role.STORE_MANAGER})


def _share(whole: int, done_before: int, done_after: int, of: int) -> int:
    """The part of `whole` for going from `done_before` to `done_after` out of `of`, floored cumulatively so the
    parts of a complete return add up to `whole` exactly."""
    if of <= 0:
        return 0
    return whole * done_after // of - whole * done_before // of


async def _return_result(return_id: int, sale_id: int, created: bool) -> ReturnResult:
    sale = await load_sale(sale_id)
    ret = next(r for r in sale.returns if r.id == return_id)
    return ReturnResult(ret=ret, sale=sale, created=created)


def restriction_label(code: str) -> str:
    """Why a dispensed medicine is not resaleable, in the current language."""
    return {
        "rx": _("prescription medicine"),
        "antibiotic": _("antibiotic"),
        "cold_chain": _("cold-chain medicine"),
    }.get(code, code)


def tender_net(sale: SaleView) -> dict[str, int]:
    """What each tender kind of the sale brought in: its amounts less, for cash, the change given back."""
    net: dict[str, int] = {}
    for tender in sale.tenders:
        net[tender.kind] = net.get(tender.kind, 0) + tender.amount
    if sale.change_given and "cash" in net:
        net["cash"] = max(0, net["cash"] - sale.change_given)
    return net


def refund_split(net: dict[str, int], refunded: dict[str, int], amount: int) -> list[tuple[str, int]]:
    """`amount` split across the sale's tenders in REFUND_ORDER, each up to what it brought in (`net`) less what
    earlier refunds took from it (`refunded`): [(tender kind, fen)], without zero parts. Whatever is left after
    every tender (never, for a sale recorded here) goes to cash."""
    parts: list[tuple[str, int]] = []
    left = amount
    for kind in (*REFUND_ORDER, *sorted(set(net) - set(REFUND_ORDER))):
        if left <= 0:
            break
        room = max(0, net.get(kind, 0) - refunded.get(kind, 0))
        take = min(room, left)
        if take:
            parts.append((kind, take))
            left -= take
    if left > 0:
        parts.append(("cash", left))
    return parts


def _check_refund_choice(req: ReturnRequest, errors: dict[str, str]) -> str:
    """The other tender asked for ("" for the sale's own tenders); its errors go into `errors`."""
    kind = (req.refund_kind or "").strip()
    if kind in ("", "original"):
        return ""
    if kind not in OTHER_REFUND_KINDS:
        errors["refund_kind"] = _("Refund to the sale's tenders, or to cash, bank card, WeChat Pay or Alipay.")
    elif not (req.refund_reason or "").strip():
        errors["refund_reason"] = _("Say why the money does not go back to the tender the customer paid with.")
    elif len(req.refund_reason.strip()) > 200:
        errors["refund_reason"] = _("At most %(n)s characters.") % {"n": 200}
    return kind


async def _restricted_approval(
    sale: SaleView, wanted: dict[int, int], req: ReturnRequest, actor: StaffUser
) -> int | None:
    """The store manager who allows the return of dispensed Rx, antibiotic and cold-chain lines (None when no such
    line comes back). The chain's rule may refuse them (ValidationFailed on each such line); else the actor, when
    a store manager, approves by their login, anyone else needs a store manager's username and PIN."""
    restricted = [line for line in sale.lines if line.line_no in wanted and line.restriction]
    if not restricted:
        return None
    rule = (await chain_settings.counter_settings()).restricted_returns
    if rule == chain_settings.REFUSE:
        raise ValidationFailed(
            {
                f"lines.{line.line_no}": _(
                    "%(name)s is a dispensed %(why)s: this chain does not take it back. Return the other lines only."
                )
                % {"name": line.name, "why": restriction_label(line.restriction)}
                for line in restricted
            }
        )
    if actor.role in RETURN_APPROVER_ROLES:
        return actor.id
    if not (req.approver_username or "").strip():
        raise ValidationFailed(
            {
                "approver": _("%(names)s: dispensed medicines come back only with a store manager's approval.")
                % {"names": join_list(line.name for line in restricted)}
            }
        )
    return (await verify_pin(actor, req.approver_username, req.approver_pin, RETURN_APPROVER_ROLES)).id


async def return_sale(req: ReturnRequest, actor: StaffUser) -> ReturnResult:
    """Refund some or all of a sale once per idempotency key (RETURN_ROLES only, else NotPermitted).

    In one transaction: the return and its lines, the units into quarantine (`stock.quarantine_return`: never
    straight back into sellable stock), the money split across the sale's tenders (`refund_split`; points back
    to points) or paid to another tender with a reason, points earned on the returned part reversed in
    proportion to the money refunded, coupons restored when the whole sale has come back, traceability codes and
    medication history updated, an outbox event and a timeline entry. The refund of a line is its total ×
    returned / sold, floored cumulatively, so returning everything refunds exactly the sale total. Dispensed Rx,
    antibiotic (ATC J01) and cold-chain lines follow the chain's rule (`chain_settings`): refused, or allowed
    by a store manager (their PIN checked by `verify_pin`), recorded and audited.
    """
    if actor.role not in RETURN_ROLES:
        raise NotPermitted(_("Only a pharmacist or store manager may refund a sale."))
    key = (req.idempotency_key or "").strip()
    errors: dict[str, str] = {}
    if not key or len(key) > 80:
        errors["idempotency_key"] = _("An idempotency key of 1 to 80 characters is required.")
    if not (req.reason or "").strip():
        errors["reason"] = _("Give the reason for the return.")
    elif len(req.reason.strip()) > 500:
        errors["reason"] = _("At most %(n)s characters.") % {"n": 500}
    refund_kind = _check_refund_choice(req, errors)
    if errors:
        raise ValidationFailed(errors)
    found = await return_sql.return_by_key(key)
    if found is not None:
        return await _return_result(found[0], found[1], created=False)
    try:
        sale = await get_sale(req.sale_no, actor)
        wanted = _return_quantities(sale, req.lines)
        approver = await _restricted_approval(sale, wanted, req, actor)
    except (ValidationFailed, NotPermitted, NotFound):
        # A retry of a return that a concurrent request with the same key has just committed finds nothing left
        # to return: it is that return's replay, not an error. (Looked up only when something failed.)
        found = await return_sql.return_by_key(key)
        if found is not None:
            return await _return_result(found[0], found[1], created=False)
        raise
    choice = _RefundChoice(refund_kind, (req.refund_reason or "").strip() if refund_kind else "", approver)
    try:
        return_id = await _write_return(sale, wanted, key, req.reason.strip(), actor, choice)
    except Replay:
        return_id = None
    except Exception as exc:
        if not sale_sql.is_unique_violation(exc):
            raise
        return_id = None
    if return_id is None:
        found = await return_sql.return_by_key(key)
        if found is None:
            raise RuntimeError("return key conflict without a return")
        return await _return_result(found[0], found[1], created=False)
    return await _return_result(return_id, sale.id, created=True)


@dataclass(frozen=True)
class _RefundChoice:
    """Where the money goes ("" = the sale's tenders) and why, and who allowed a restricted return."""

    kind: str
    reason: str
    approved_by: int | None


def _return_quantities(sale: SaleView, lines: list[tuple[int, int]] | None) -> dict[int, int]:
    """line_no → qty to return, checked against what is left."""
    by_no = {line.line_no: line for line in sale.lines}
    errors: dict[str, str] = {}
    wanted: dict[int, int] = {}
    if lines is None:
        wanted = {line.line_no: line.returnable for line in sale.lines if line.returnable > 0}
    else:
        for line_no, qty in lines:
            line = by_no.get(line_no)
            if line is None:
                errors[f"lines.{line_no}"] = _("Sale %(sale)s has no line %(line)s.") % {
                    "sale": sale.sale_no,
                    "line": line_no,
                }
            elif not isinstance(qty, int) or qty < 1:
                errors[f"lines.{line_no}"] = _("Return at least one unit.")
            elif qty + wanted.get(line_no, 0) > line.returnable:
                errors[f"lines.{line_no}"] = _("Only %(n)s of %(name)s can still be returned.") % {
                    "n": line.returnable,
                    "name": line.name,
                }
            else:
                wanted[line_no] = wanted.get(line_no, 0) + qty
    if errors:
        raise ValidationFailed(errors)
    if not wanted:
        raise ValidationFailed({"lines": _("Nothing is left to return on sale %(sale)s.") % {"sale": sale.sale_no}})
    return wanted


async def _write_return(
    sale: SaleView, wanted: dict[int, int], key: str, reason: str, actor: StaffUser, choice: _RefundChoice
) -> int:
    now = datetime.now(UTC)
    by_no = {line.line_no: line for line in sale.lines}
    products = await catalog.products_by_ids(by_no[n].product_id for n in wanted)
    serial = await numbers.committed_serial("return", "sale_return")  # outside the transaction, as for sales
    return_no = numbers.return_number(sale.store_code, serial)
    async with transaction():
        # First, so two refunds of one sale at once each read what the other paid out (see refund_split below).
        await stock.lock_store(sale.store_id)
        if await return_sql.return_by_key(key) is not None:
            raise Replay()
        inserted = await return_sql.insert_return(
            numbers.row_id(serial),
            (return_no, key, sale.id, sale.store_id, actor.id, reason, choice.approved_by, choice.reason, now),
        )
        if not inserted:
            raise Replay()
        return_id = inserted[0]["id"]
        amount = 0
        fully_returned: list[SaleLineView] = []
        for line_no, qty in sorted(wanted.items()):
            line = by_no[line_no]
            # The conditional update is the guard against two refunds of the same units at once.
            after = await return_sql.add_returned(line.id, qty)
            if after is None:
                raise ValidationFailed({f"lines.{line_no}": _("%(name)s was already returned.") % {"name": line.name}})
            part = _share(line.total, after - qty, after, line.qty)
            amount += part
            await return_sql.insert_return_line(return_id, line.id, qty, part)
            await stock.quarantine_return(
                sale.store_id, sale.sale_no, line_no, qty, return_no, actor, restricted=bool(line.restriction)
            )
            await return_sql.return_trace_codes(line.id, qty)
            if sale.member_id is not None:
                remaining = line.qty - after
                if remaining <= 0:
                    fully_returned.append(line)
                    await return_sql.delete_medication(line.id)
                else:
                    product = products.get(line.product_id)
                    days = product.days_supply if product is not None and product.units_per_day else None
                    med = await return_sql.medication_started(line.id)
                    if med:
                        started = as_date(med[0]["started_on"])
                        until = started + timedelta(days=days * remaining - 1) if days and started else None
                        await return_sql.update_medication(line.id, remaining, until)

        # Points and status from the sale's refunds so far (cumulative, so a full return is exact).
        before, restored_before = await return_sql.earlier_refunds(sale.id, return_id)
        after_all = before + amount
        whole = await return_sql.units_left(sale.id) == 0
        if whole:
            after_all = sale.total  # rounding can leave nothing else: every line is back
        reverse = _share(sale.points_earned, before, after_all, sale.total) if sale.total else sale.points_earned
        # The money back to the sale's tenders, in REFUND_ORDER after what earlier refunds took from each.
        refunded = await return_sql.paid_out(sale.id)
        net = tender_net(sale)
        split = refund_split(net, refunded, amount)
        # Points paid come back as points, for the share of the points tender this refund takes.
        points_fen = dict(split).get("points", 0)
        before_points = refunded.get("points", 0)
        restore = _share(sale.points_redeemed, before_points, before_points + points_fen, net.get("points", 0))
        # Never more than is left to restore, and all of it once everything is back.
        left_to_restore = max(0, sale.points_redeemed - restored_before)
        restore = left_to_restore if whole else min(restore, left_to_restore)
        paid = [
            (choice.kind if choice.kind and kind not in FIXED_REFUND_KINDS else kind, kind, part)
            for kind, part in split
        ]
        if paid:
            await return_sql.insert_return_tenders(return_id, paid)
        changed = [(kind, original, part) for kind, original, part in paid if kind != original]
        if changed:
            await audit.record(
                actor,
                REFUND_TENDER_CHANGE,
                sale.member_id,
                (
                    f"{return_no} of {sale.sale_no}: "
                    + ", ".join(f"{part} fen to {kind} instead of {original}" for kind, original, part in changed)
                    + f"; {choice.reason}"
                )[:500],
            )
        if choice.approved_by is not None:
            names = join_list(by_no[n].name for n in sorted(wanted) if by_no[n].restriction)
            await audit.record(
                actor,
                RETURN_APPROVAL,
                sale.member_id,
                f"{return_no} of {sale.sale_no}: {names} (approved by staff {choice.approved_by})"[:500],
            )
        reversed_pts = restored_pts = 0
        if sale.member_id is not None and (reverse or restore):
            reversed_pts, restored_pts = await loyalty.reverse_for_return(
                sale.member_id, sale.sale_no, return_no, reverse, restore, sale.store_id, actor
            )
        await return_sql.set_return_totals(return_id, amount, reversed_pts, restored_pts)
        await return_sql.set_sale_status(sale.id, "returned" if whole else "part_returned")
        if whole and sale.coupon_discount:
            await coupons.restore_coupons(sale.id, actor)
        payload = {
            "return_no": return_no,
            "sale_no": sale.sale_no,
            "store": sale.store_code,
            "member": sale.member_no,
            "amount": amount,
            "whole": whole,
            "tenders": [{"kind": kind, "from": original, "amount": part} for kind, original, part in paid],
            "lines": [
                {"line_no": n, "sku": by_no[n].sku, "atc": by_no[n].atc, "qty": q} for n, q in sorted(wanted.items())
            ],
        }
        await events.record(
            f"return:{return_no}",
            events.SALE_RETURNED,
            sale.member_id,
            sale.store_id,
            payload,
            now,
        )
        if sale.member_id is not None:
            await timeline.record_event(
                sale.member_id,
                RETURNED,
                timeline.message(
                    N_("Returned %(items)s from %(sale)s — %(amount)s refunded (%(reason)s)"),
                    items=timeline.Label(
                        "product_qty",
                        tuple(product_qty(products[by_no[n].product_id], q) for n, q in sorted(wanted.items())),
                    ),
                    sale=sale.sale_no,
                    amount=f"¥{amount / 100:.2f}",
                    reason=reason,
                ),
                actor,
                ref=return_no,
            )
    return return_id
