"""Recording a sale: once per idempotency key, with every effect (lines, trace codes, tenders, stock, coupons, points,
medication history, approvals, the outbox event) in one transaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from app.components import audit, coupons, events, health, loyalty, stock, timeline
from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import SALE_ROLES
from app.components.sales import numbers
from app.components.sales.queries import sale as sale_sql
from app.components.sales.quote import Quote, check_store, eligible, exclude_rx, points_for_fen, quote
from app.components.sales.requests import (
    AllergyBlocked,
    NotPermitted,
    Override,
    Prescription,
    Replay,
    SaleRequest,
)
from app.components.sales.search import load_sale
from app.components.sales.views import APPROVAL_KINDS, SaleResult, SaleView, product_qty, sale_view
from app.db import transaction
from app.i18n import N_, _, join_list

# Timeline kind and audit action of a sale.
PURCHASE = "purchase"
ALLERGY_OVERRIDE = "sale.allergy_override"


_BLOCKER_FIELDS = {
    "allergy_high": "override",
    "allergy_ack": "acknowledged",
    "override_invalid": "override",
    "rx_unverified": "prescription",
    "out_of_stock": "qty",
    "coupon": "coupon_codes",
    "tender_short": "tenders",
    "tender_over": "tenders",
    "points": "points",
    "line_discount_forbidden": "line_discount",
}


async def _store(store_id: int) -> dict:
    rows = await sale_sql.store_row(store_id)
    if not rows:
        raise ValidationFailed({"store": _("No store with id %(id)s.") % {"id": store_id}})
    return rows[0]


async def selling_store(actor: StaffUser, code: str) -> int:
    """The store a sale is recorded in: the actor's own when `code` is blank or names it; for HQ the store `code`
    names. A store's staff may sell only in their own store (NotPermitted); an unknown code is ValidationFailed."""
    code = (code or "").strip().upper()
    if not code:
        if actor.store_id is None:
            raise ValidationFailed({"store": _("Name the store (its code).")})
        return actor.store_id
    if actor.store_id is not None and code == (actor.store_code or "").upper():
        return actor.store_id  # its own store, as the actor's staff row named it
    store_id = await sale_sql.store_id_by_code(code)
    if store_id is None:
        raise ValidationFailed({"store": _("No store with code %(code)s.") % {"code": code}})
    if actor.store_id is not None and store_id != actor.store_id:
        raise NotPermitted(_("A store's token may only sell in its own store."))
    return store_id


async def record_sale(req: SaleRequest, actor: StaffUser) -> SaleResult:
    """Record the sale once for its idempotency key, with every effect in one transaction.

    Raises AllergyBlocked (unresolved high alerts), ValidationFailed (other blockers, bad input, trace code
    already sold, out of stock), NotPermitted (actor may not sell, or not in this store). Do not call it inside
    an open transaction: a concurrent duplicate is detected by the unique key and rolled back.
    """
    key = (req.idempotency_key or "").strip()
    if not key or len(key) > 80:
        raise ValidationFailed({"idempotency_key": _("An idempotency key of 1 to 80 characters is required.")})
    try:
        if actor.role not in SALE_ROLES:
            raise NotPermitted(_("Your role may not sell."))
        check_store(actor, req.store_id)
        if actor.store_id == req.store_id and actor.store_code:
            store = {
                "id": req.store_id,
                "code": actor.store_code,
                "name": actor.store_name or "",
                "phone": actor.store_phone or "",
            }
        else:
            store = await _store(req.store_id)
        q = await quote(req, actor)
        if q.blocker_codes & {"allergy_high", "allergy_ack"}:
            raise AllergyBlocked(q.conflicts, q.unacknowledged)
        if q.blockers:
            errors: dict[str, str] = {}
            for code, message in q.blockers:
                name = _BLOCKER_FIELDS.get(code, code)
                errors[name] = f"{errors[name]} {message}" if name in errors else message
            raise ValidationFailed(errors)
    except (ValidationFailed, AllergyBlocked, NotPermitted, NotFound):
        # A replay gets its sale even when its cart would not pass now (its stock is sold, say). The key is looked
        # up only when something failed: a new sale saves the query, and a replay that passes is stopped by the
        # key's unique index when it is written.
        existing = await sale_sql.sale_id_by_key(key)
        if existing is not None:
            return await _replayed(existing, actor)
        raise
    try:
        written = await _write_sale(req, q, store, key, actor)
    except Replay:
        written = None
    except Exception as exc:
        if not sale_sql.is_unique_violation(exc):
            raise
        written = None
    if written is None:
        found = await sale_sql.sale_id_by_key(key)
        if found is None:
            raise RuntimeError("sale key conflict without a sale")
        return await _replayed(found, actor)
    sale_id, view = written
    # The view built from what was just written is what `load_sale` would read back; the approvers' names of an
    # allergy override or a verified prescription are not at hand, so those (rarer) sales are read back.
    return SaleResult(view if view is not None else await load_sale(sale_id), created=True)


async def _replayed(sale_id: int, actor: StaffUser) -> SaleResult:
    """The sale an idempotency key already made; another store's staff learn only that the key is taken."""
    view = await load_sale(sale_id)
    if actor.store_id is not None and view.store_id != actor.store_id:
        raise ValidationFailed({"idempotency_key": _("This idempotency key was already used for another sale.")})
    return SaleResult(view, created=False)


async def _write_sale(
    req: SaleRequest, q: Quote, store: dict, key: str, actor: StaffUser
) -> tuple[int, SaleView | None]:
    """All writes of a sale in one transaction; returns the sale id and its view (None when it needs reading
    back), or raises Replay."""
    now = datetime.now(UTC)
    today = q.on_date or store_today()
    member = q.member
    override = req.override if req.override and (req.override.reason or "").strip() else None
    overridden = override is not None and any(
        alert.kind == "allergy" and alert.level == "high" for line in q.lines for alert in line.alerts
    )
    rx = req.prescription if q.needs_rx else None
    cash_change = q.change
    if await sale_sql.sale_id_by_key(key) is not None:
        raise Replay()  # a replay must not use up a sale number
    serial = await numbers.committed_serial("sale", "sale")
    # Points as quoted (0 without a member), so the sale row is written once; corrected below if earning finds
    # a new tier. A member's quote carries the rules it was priced with.
    rules = q.rules
    points_redeemed = points_for_fen(q.points_tender, rules)[0] if member is not None and q.points_tender else 0
    sale_no = numbers.sale_number(store["code"], serial)
    # A short transaction: a few indexed statements per line (see app.db.transaction). The key's unique index
    # (ON CONFLICT … DO NOTHING) tells a replay that got here first.
    async with transaction(short=True):
        inserted = await sale_sql.insert_sale(
            numbers.row_id(serial),
            (
                sale_no,
                key,
                req.store_id,
                actor.id,
                member.id if member else None,
                q.subtotal,
                q.line_discount,
                q.coupon_discount,
                q.total,
                q.paid,
                cash_change,
                q.points_estimate,
                points_redeemed,
                override.reason.strip() if overridden and override else "",
                override.approved_by if overridden and override else None,
                rx.number.strip() if rx else "",
                rx.hospital.strip() if rx else "",
                rx.image if rx else "",
                rx.verified_by if rx else None,
                now,
            ),
        )
        if not inserted:
            raise Replay()
        sale_id = inserted[0]["id"]

        # Lines: one multi-row insert.
        args: list[Any] = []
        for line in q.lines:
            args += [
                sale_id,
                line.line_no,
                line.product.id,
                line.qty,
                line.unit_price,
                line.line_discount,
                line.coupon_share,
                line.total,
                json.dumps([a.as_json() for a in line.alerts], ensure_ascii=False) if line.alerts else "[]",
                json.dumps(list(line.trace_codes) or ([line.code] if line.code else [])),
            ]
        rows = await sale_sql.insert_sale_lines(len(q.lines), args)
        line_ids = {r["line_no"]: r["id"] for r in rows}

        # Traceability codes: one unit each, never sold twice while not returned.
        traced = [(line_ids[line.line_no], code) for line in q.lines for code in line.trace_codes]
        if traced:
            codes = [code for _, code in traced]
            if len(set(codes)) != len(codes):
                raise ValidationFailed({"trace_codes": _("The same traceability code was scanned twice.")})
            sold = await sale_sql.sold_trace_codes(codes)
            if sold:
                raise ValidationFailed(
                    {
                        "trace_codes": _("Traceability code %(code)s was already sold.")
                        % {"code": join_list(r["code"] for r in sold)}
                    }
                )
            # The partial unique index is the guard when two counters sell the same unit at once.
            inserted_codes = await sale_sql.insert_trace_codes(traced)
            if len(inserted_codes) != len(traced):
                taken = sorted(set(codes) - {r["code"] for r in inserted_codes})
                raise ValidationFailed(
                    {"trace_codes": _("Traceability code %(code)s was already sold.") % {"code": join_list(taken)}}
                )

        # Tenders.
        if req.tenders:
            await sale_sql.insert_tenders(sale_id, [(t.kind, t.amount, (t.reference or "")[:60]) for t in req.tenders])

        # Stock, first expiry first out: every line in four statements.
        await stock.allocate_sale_lines(
            req.store_id,
            [(line.line_no, line.product.id, line.qty) for line in q.lines],
            sale_no,
            actor,
            allow_oversell=req.oversell_approved_by is not None,
            new_sale=True,  # its number was taken for this sale, and its row inserted above
        )

        codes = [c.strip() for c in req.coupon_codes if c and c.strip()]
        if codes:
            await coupons.redeem_coupons(codes, member.id if member else None, sale_id, actor)

        points_earned = 0
        if member is not None:
            if points_redeemed:
                await loyalty.redeem(member.id, points_redeemed, sale_no, req.store_id, actor)
            earning = eligible(q.lines, exclude_rx(rules))
            if earning > 0:
                points_earned = int(
                    await loyalty.earn(member.id, sale_no, earning, today, req.store_id, actor, known_rules=rules)
                )
            if points_earned != q.points_estimate:
                await sale_sql.set_points_earned(sale_id, points_earned)

            # Medication history: one row per line, with its days of supply.
            args = []
            for line in q.lines:
                days = line.product.days_supply if line.product.units_per_day and line.product.days_supply else None
                until = today + timedelta(days=days * line.qty - 1) if days else None
                args += [member.id, line_ids[line.line_no], line.product.id, line.product.atc[:8], line.qty, today]
                args += [until, req.store_id]
            await sale_sql.insert_medication(len(q.lines), args)
            atcs = [line.product.atc for line in q.lines if line.product.atc]
            if atcs:
                await health.infer_conditions_from_atc(member.id, atcs, actor)
            await timeline.record_event(
                member.id,
                PURCHASE,
                timeline.message(
                    N_("Bought %(items)s — %(total)s"),
                    items=timeline.Label("product_qty", tuple(product_qty(line.product, line.qty) for line in q.lines)),
                    total=f"¥{q.total / 100:.2f}",
                ),
                actor,
                ref=sale_no,
            )
            if overridden and override is not None:
                await audit.record(
                    actor,
                    ALLERGY_OVERRIDE,
                    member_id=member.id,
                    detail=f"{sale_no}: {override.reason.strip()} (approved by staff {override.approved_by})",
                )

        approvals = approval_rows(req, q, override if overridden else None, rx, now)
        if approvals:
            await sale_sql.insert_approvals(sale_id, approvals)

        payload = {
            "sale_no": sale_no,
            "store": store["code"],
            "member": member.member_no if member else None,
            "total": q.total,
            "lines": [
                {
                    "line_no": line.line_no,
                    "sku": line.product.sku,
                    "atc": line.product.atc,
                    "qty": line.qty,
                    "days_supply": line.product.days_supply,
                }
                for line in q.lines
            ],
        }
        await events.record(
            f"sale:{sale_no}",
            events.SALE_COMPLETED,
            member.id if member else None,
            req.store_id,
            payload,
            now,
        )
    if approvals:
        return sale_id, None  # the approvers' names are read back with the approvals
    return sale_id, _written_view(
        sale_id, sale_no, store, actor, q, req, line_ids, now, points_earned, points_redeemed, cash_change
    )


def _written_view(
    sale_id: int,
    sale_no: str,
    store: dict,
    actor: StaffUser,
    q: Quote,
    req: SaleRequest,
    line_ids: dict[int, int],
    created_at: datetime,
    points_earned: int,
    points_redeemed: int,
    change_given: int,
) -> SaleView:
    """The SaleView `load_sale` would read back for a sale just written (no override, no prescription)."""
    row = {
        "id": sale_id,
        "sale_no": sale_no,
        "store": req.store_id,
        "store_code": store["code"],
        "store_name": store["name"],
        "store_phone": store.get("phone") or "",
        "staff": actor.id,
        "staff_name": actor.display_name,
        "staff_role": actor.role,
        "member": q.member.id if q.member else None,
        "member_no": q.member.member_no if q.member else None,
        "member_name": q.member.name if q.member else None,
        "member_phone_masked": q.member.phone_masked if q.member else "",
        "status": "completed",
        "subtotal": q.subtotal,
        "line_discount": q.line_discount,
        "coupon_discount": q.coupon_discount,
        "total": q.total,
        "paid": q.paid,
        "change_given": change_given,
        "points_earned": points_earned,
        "points_redeemed": points_redeemed,
        "override_reason": "",
        "override_by_name": None,
        "rx_number": "",
        "rx_hospital": "",
        "rx_verified_by_name": None,
        "created_at": created_at,
    }
    line_rows = [
        {
            "id": line_ids[line.line_no],
            "line_no": line.line_no,
            "product": line.product.id,
            "sku": line.product.sku,
            "name_zh": line.product.name_zh,
            "name_en": line.product.name_en,
            "atc": line.product.atc,
            "rx_class": line.product.rx_class,
            "cold_chain": line.product.cold_chain,
            "qty": line.qty,
            "unit_price": line.unit_price,
            "line_discount": line.line_discount,
            "coupon_share": line.coupon_share,
            "total": line.total,
            "returned_qty": 0,
            # As stored: through JSON, so the body is the same as a read-back's.
            "alerts": json.loads(json.dumps([a.as_json() for a in line.alerts], ensure_ascii=False))
            if line.alerts
            else [],
            "codes": list(line.trace_codes) or ([line.code] if line.code else []),
        }
        for line in q.lines
    ]
    tender_rows = [{"kind": t.kind, "amount": t.amount, "reference": (t.reference or "")[:60]} for t in req.tenders]
    return sale_view(row, line_rows, tender_rows, [], [], [])


def approval_rows(
    req: SaleRequest, q: Quote, override: Override | None, rx: Prescription | None, now: datetime
) -> list[tuple[str, int | None, str, str, int, datetime]]:
    """The approvals a sale goes ahead with, one row each (kind, line_no, allergen class, reason, staff, at): the
    override of each blocked line and allergy with its reason, the prescription check, each acknowledged warning
    and a store manager's approval to sell beyond stock (when some line needed it)."""
    rows: list[tuple[str, int | None, str, str, int, datetime]] = []
    for line in q.lines:
        for alert in line.alerts:
            if alert.kind != "allergy":
                continue
            recorded = alert.detail.get("recorded_class") or ""
            if alert.level == "high" and override is not None:
                rows.append(
                    (
                        "allergy_override",
                        line.line_no,
                        recorded,
                        override.reason.strip(),
                        override.approved_by,
                        override.at or now,
                    )
                )
            elif alert.detail.get("acknowledged_by"):
                at = datetime.fromisoformat(alert.detail["acknowledged_at"])
                rows.append(("allergy_acknowledged", line.line_no, recorded, "", alert.detail["acknowledged_by"], at))
    if rx is not None and rx.verified_by is not None:
        rows.append(("rx_verified", None, "", "", rx.verified_by, rx.verified_at or now))
    if req.oversell_approved_by is not None and any(a.kind == "stock" for line in q.lines for a in line.alerts):
        rows.append(("oversell", None, "", "", req.oversell_approved_by, req.oversell_approved_at or now))
    rows.sort(key=lambda row: (APPROVAL_KINDS.index(row[0]), row[1] or 0))
    return rows
