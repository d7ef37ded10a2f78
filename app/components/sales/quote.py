"""The quote: a cart priced and checked without writing anything — lines, stock, coupons, allergy and duplicate-therapy
alerts, approvals, totals and tenders, and what blocks checkout."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from app.components import catalog, coupons, loyalty, stock
from app.components.allergies import RecordedAllergy, check_line
from app.components.core import bounds
from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import DISCOUNT_ROLES, PHARMACIST_ROLES, SALE_ROLES, STOCK_ROLES
from app.components.sales.approvals import approver_ok, approvers_by_id
from app.components.sales.queries import sale as sale_sql
from app.components.sales.requests import TENDER_KINDS, LineRequest, NotPermitted, SaleRequest
from app.components.sales.views import warnings_of
from app.components.scanning import TRACEABILITY_PRODUCT_DIGITS, BadScan
from app.db import as_date
from app.i18n import _, join_list, pick
from app.settings import get_settings

# Blocker codes of a quote (the screen keys its prompts on them).
BLOCKERS = (
    "allergy_high",
    "allergy_ack",
    "rx_unverified",
    "out_of_stock",
    "coupon",
    "tender_short",
    "line_discount_forbidden",
    "override_invalid",
)


@dataclass(frozen=True)
class LineAlert:
    """A warning on a quoted line. kind: allergy | duplicate | stock | rx; level: high | caution | info | ask | warn."""

    kind: str
    level: str
    message: str
    detail: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        """For the API and the sale line's stored alerts."""
        return {"kind": self.kind, "level": self.level, "message": self.message, **self.detail}


@dataclass
class QuoteLine:
    """A priced line. `product` is a catalog.ProductView; money in fen; `total` after line discount and coupon."""

    line_no: int
    product: Any
    qty: int
    unit_price: int
    line_discount: int
    coupon_share: int
    total: int
    alerts: list[LineAlert]
    available: int | None  # sellable stock in the store now
    trace_codes: tuple[str, ...] = ()
    code: str = ""

    @property
    def gross(self) -> int:
        """Price × qty before any discount."""
        return self.unit_price * self.qty

    @property
    def is_rx(self) -> bool:
        return self.product.rx_class == "Rx"

    @property
    def highest(self) -> str | None:
        """The strongest allergy level on the line (high, caution, info, ask) or None."""
        levels = [a.level for a in self.alerts if a.kind == "allergy"]
        for level in ("high", "caution", "info", "ask"):
            if level in levels:
                return level
        return None


@dataclass(frozen=True)
class QuoteMember:
    """The member a quote is for."""

    id: int
    member_no: str
    name: str
    allergy_status: str
    tier: str
    points_balance: int
    phone_masked: str = ""


@dataclass
class Quote:
    """A priced, checked cart; nothing written. `blockers` are (code, message) pairs that stop checkout."""

    store_id: int
    member: QuoteMember | None
    lines: list[QuoteLine]
    subtotal: int
    line_discount: int
    coupon_discount: int
    total: int
    paid: int
    change: int
    points_estimate: int
    points_tender: int  # fen paid with points
    coupon: Any  # coupons.CouponResult or None
    coupon_errors: dict[str, str]  # code → message
    blockers: list[tuple[str, str]]
    warnings: list[str]
    conflicts: list[dict]  # unresolved high allergy alerts (as AllergyBlocked carries them)
    on_date: date | None = None
    rules: Any = None  # loyalty.LoyaltyRules read for a member's quote (recording reuses them)
    unacknowledged: list[dict] = field(default_factory=list)  # allergy warnings waiting for their tap

    @property
    def can_checkout(self) -> bool:
        return not self.blockers

    @property
    def pharmacist_pending(self) -> tuple[str, ...]:
        """What waits for a pharmacist, in the order one approval gives it: "allergy_override" (a reason) and
        "rx_verified" (the prescription checked)."""
        codes = self.blocker_codes
        pending = []
        if codes & {"allergy_high", "override_invalid"}:
            pending.append("allergy_override")
        if "rx_unverified" in codes:
            pending.append("rx_verified")
        return tuple(pending)

    @property
    def blocker_codes(self) -> set[str]:
        return {code for code, _ in self.blockers}

    @property
    def needs_rx(self) -> bool:
        """Some line is Rx (a verified prescription is required)."""
        return any(line.is_rx for line in self.lines)

    @property
    def due(self) -> int:
        """What is still to be paid (0 when tenders cover the total)."""
        return max(0, self.total - self.paid)


def atc_group(atc: str) -> str:
    """The ATC level-4 group (chemical subgroup's parent): the first five characters, or "" when shorter."""
    atc = (atc or "").strip().upper()
    return atc[:5] if len(atc) >= 5 else ""


def check_store(actor: StaffUser, store_id: int) -> None:
    """Store roles act in their own store only."""
    if actor.store_id is not None and actor.store_id != store_id:
        raise NotPermitted(_("You may only sell in your own store."))


async def _member(member_no: str) -> tuple[QuoteMember, list[RecordedAllergy], loyalty.LoyaltyRules]:
    """The member (following a merge to the survivor), their tier, points balance and active recorded allergies
    (with criticality, reaction and severity: the check weighs them), and the loyalty rules (read with them: a
    member's sale needs both)."""
    rows = await sale_sql.quote_member_by_no(loyalty.RULES_SETTING, (member_no or "").strip())
    if rows and rows[0]["merged_into"]:
        rows = await sale_sql.quote_member_by_id(loyalty.RULES_SETTING, rows[0]["merged_into"])
    if not rows:
        raise ValidationFailed({"member_no": _("No member with number %(no)s.") % {"no": member_no}})
    row = rows[0]
    member = QuoteMember(
        id=row["id"],
        member_no=row["member_no"],
        name=row["name"],
        allergy_status=row["allergy_status"] or "unknown",
        tier=row["tier"] or "regular",
        points_balance=int(row["balance"] or 0),
        phone_masked=row["phone_masked"] or "",
    )
    allergies = [
        RecordedAllergy(
            allergen_class=r["allergen_class"],
            substance=r["substance"] or "",
            criticality=r["criticality"] or "",
            reaction=r["reaction"] or "",
            severity=r["severity"] or "",
        )
        for r in rows
        if r["allergen_class"]
    ]
    return member, allergies, loyalty.rules_from(row["rules"])


async def _resolve_lines(lines: list[LineRequest]) -> tuple[list[Any], list[tuple[str, ...]]]:
    """Products for the lines (one query for lines given by id, one for lines given by a code) and their trace
    codes."""
    errors: dict[str, str] = {}
    by_id = await catalog.products_by_ids(line.product_id for line in lines if line.product_id is not None)
    coded = [i for i, line in enumerate(lines) if line.product_id is None and (line.code or "").strip()]
    by_code = dict(zip(coded, await catalog.resolve_codes([lines[i].code for i in coded]), strict=True))
    products: list[Any] = []
    traces: list[tuple[str, ...]] = []
    for i, line in enumerate(lines):
        product, trace = None, tuple(c.strip() for c in line.trace_codes if c and c.strip())
        if line.product_id is not None:
            product = by_id.get(int(line.product_id))
            if product is None:
                errors[f"lines.{i}.code"] = _("No product with id %(id)s.") % {"id": line.product_id}
        elif not (line.code or "").strip():
            errors[f"lines.{i}.code"] = _("Scan or type a product code.")
        else:
            found = by_code[i]
            if isinstance(found, (BadScan, NotFound)):
                errors[f"lines.{i}.code"] = found.message
            else:
                product = found.product
                code = found.scan.traceability_code if found.scan is not None else None
                if code and code not in trace:
                    trace = (code, *trace)
        if product is not None and not product.active:
            errors[f"lines.{i}.code"] = _("%(name)s is no longer sold.") % {"name": product.name}
        if not isinstance(line.qty, int) or line.qty < 1 or line.qty > 9999:
            errors[f"lines.{i}.qty"] = _("Quantity must be a whole number from 1 to 9999.")
        elif len(trace) > line.qty:
            errors[f"lines.{i}.trace_codes"] = _("More traceability codes than units on this line.")
        # A unit's code names its product by its first 7 digits (as the catalog resolves a scanned code): a code
        # of another product on this line would be recorded as sold, and the real unit could never be sold.
        prefixes = {c for kind, c in product.code_kinds if kind == "trace"} if product is not None else set()
        for code in trace:
            if len(code) != 20 or not (code.isascii() and code.isdigit()):  # ２０ full-width digits are not one
                errors[f"lines.{i}.trace_codes"] = _("A traceability code has 20 digits: %(code)s") % {"code": code}
            elif product is not None and code[:TRACEABILITY_PRODUCT_DIGITS] not in prefixes:
                errors[f"lines.{i}.trace_codes"] = _(
                    "Traceability code %(code)s is not a code of %(name)s: its product prefix %(prefix)s is not "
                    "this product's."
                ) % {"code": code, "name": product.name, "prefix": code[:TRACEABILITY_PRODUCT_DIGITS]}
        if not isinstance(line.line_discount, int) or line.line_discount < 0:
            errors[f"lines.{i}.line_discount"] = _("A discount is a positive amount.")
        elif product is not None and isinstance(line.qty, int) and line.line_discount > product.price * line.qty:
            errors[f"lines.{i}.line_discount"] = _("The discount is larger than the line.")
        products.append(product)
        traces.append(trace)
    if not lines:
        errors["lines"] = _("The cart is empty.")
    if errors:
        raise ValidationFailed(errors)
    return products, traces


async def _history(member_id: int, groups: Collection[str], today: date) -> dict[str, list[dict]]:
    """Earlier purchases still within their days of supply, by ATC level-4 group (one query)."""
    if not groups:
        return {}
    rows = await sale_sql.medication_in_supply(member_id, today)
    found: dict[str, list[dict]] = {}
    for row in rows:
        group = atc_group(row["atc"])
        if group in groups:
            found.setdefault(group, []).append(row)
    return found


def _coupon_lines(lines: list[QuoteLine]) -> list[Any]:
    """Cart lines in the coupons component's shape (amounts after line discounts)."""
    return [
        coupons.CouponLine(
            line_no=line.line_no,
            product_id=line.product.id,
            sku=line.product.sku,
            category_l1=line.product.category_l1,
            amount_fen=line.gross - line.line_discount,
            rx=line.product.rx_class == "Rx",
        )
        for line in lines
    ]


def eligible(lines: list[QuoteLine], exclude_rx: bool) -> int:
    """What earns points: line totals after all discounts, without points-excluded (and, by rule, Rx) products."""
    return sum(
        line.total
        for line in lines
        if not line.product.points_excluded and not (exclude_rx and line.product.rx_class == "Rx")
    )


def exclude_rx(rules: Any) -> bool:
    return bool(getattr(rules, "exclude_rx", False)) if rules is not None else False


def points_for_fen(amount: int, rules: Any) -> tuple[int, bool]:
    """Points a points tender of `amount` fen uses, and whether the amount is a whole number of points."""
    per_yuan = int(getattr(rules, "redeem_points_per_yuan", 100) or 100) if rules is not None else 100
    return -(-amount * per_yuan // 100), (amount * per_yuan) % 100 == 0


async def quote(req: SaleRequest, actor: StaffUser) -> Quote:
    """Price and check a cart without writing anything (the counter calls it on every change).

    Bad input (unknown code or product, qty < 1, unknown member or store, unknown tender kind) raises
    ValidationFailed with fields `lines.<i>.code`, `lines.<i>.qty`, `member_no`, `store`, `tenders.<i>.kind`.
    Everything else is reported: per-line alerts, coupon errors, and `blockers`. Queries are batched: products,
    member with allergies, medication history, stock, coupons and approvers each take one round trip.
    """
    check_store(actor, req.store_id)
    today = store_today()
    member, allergies, rules = (None, [], None)
    if req.member_no:
        member, allergies, rules = await _member(req.member_no)
    products, traces = await _resolve_lines(req.lines)
    errors: dict[str, str] = {}
    for i, tender in enumerate(req.tenders):
        if tender.kind not in TENDER_KINDS:
            errors[f"tenders.{i}.kind"] = _("Unknown payment type %(kind)s.") % {"kind": tender.kind}
        if not isinstance(tender.amount, int) or tender.amount <= 0:
            errors[f"tenders.{i}.amount"] = _("A payment is a positive amount.")
        elif tender.amount > bounds.MAX_FEN:
            errors[f"tenders.{i}.amount"] = _("A payment is at most %(max)s.") % {"max": f"¥{bounds.MAX_FEN / 100:.2f}"}
        if tender.kind == "points" and member is None:
            errors[f"tenders.{i}.kind"] = _("Paying with points needs a member.")
    if len(req.acknowledged) > 100:
        errors["acknowledged"] = _("At most %(n)s acknowledged warnings.") % {"n": 100}
    for i, ack in enumerate(req.acknowledged[:100]):
        if not isinstance(ack.line_no, int) or not 1 <= ack.line_no <= len(req.lines):
            errors[f"acknowledged.{i}.line_no"] = _("No line %(n)s in this sale.") % {"n": ack.line_no}
        if not isinstance(ack.allergen_class, str) or not 0 < len(ack.allergen_class) <= 40:
            errors[f"acknowledged.{i}.allergen_class"] = _("Name the allergen class of the warning.")
    if errors:
        raise ValidationFailed(errors)

    lines = [
        QuoteLine(
            line_no=i + 1,
            product=product,
            qty=req_line.qty,
            unit_price=product.price,
            line_discount=req_line.line_discount,
            coupon_share=0,
            total=product.price * req_line.qty - req_line.line_discount,
            alerts=[],
            available=None,
            trace_codes=traces[i],
            code=req_line.code,
        )
        for i, (req_line, product) in enumerate(zip(req.lines, products, strict=True))
    ]
    blockers: list[tuple[str, str]] = []
    warnings: list[str] = []

    # Stock: one query for every product of the cart.
    sellable = await stock.sellable(req.store_id, [line.product.id for line in lines])
    wanted: dict[int, int] = {}
    for line in lines:
        wanted[line.product.id] = wanted.get(line.product.id, 0) + line.qty
    for line in lines:
        line.available = int(sellable.get(line.product.id, 0))
        if wanted[line.product.id] > line.available:
            message = _("Only %(n)s of %(name)s in stock.") % {"n": line.available, "name": line.product.name}
            line.alerts.append(LineAlert("stock", "high", message, {"available": line.available}))
            if req.oversell_approved_by is None:
                blockers.append(("out_of_stock", message))

    # Coupons: evaluated on the amounts after line discounts; shares reduce each line's total.
    coupon_result, coupon_errors, coupon_discount = None, {}, 0
    codes = [c.strip() for c in req.coupon_codes if c and c.strip()]
    if codes:
        coupon_result = await coupons.evaluate(codes, member.id if member else None, _coupon_lines(lines), today)
        coupon_errors = dict(getattr(coupon_result, "errors", {}) or {})
        shares = dict(getattr(coupon_result, "per_line", {}) or {})
        for line in lines:
            share = min(int(shares.get(line.line_no, 0)), line.total)
            line.coupon_share = share
            line.total -= share
            coupon_discount += share
        for code, message in coupon_errors.items():
            blockers.append(("coupon", f"{code}: {message}"))

    # Approvers named by the request: one query for all of them.
    approvers = await approvers_by_id(
        [
            x
            for x in (
                req.override.approved_by if req.override else None,
                req.prescription.verified_by if req.prescription else None,
                req.oversell_approved_by,
                *(ack.by for ack in req.acknowledged),
            )
            if x is not None
        ]
    )

    # Allergies (from the recorded allergies themselves, whatever the cached status says), duplicate therapy.
    conflicts: list[dict] = []
    unacknowledged: list[dict] = []
    acknowledged = {(ack.line_no, ack.allergen_class): ack for ack in req.acknowledged}
    now = datetime.now(UTC)
    groups: dict[str, list[QuoteLine]] = {}
    for line in lines:
        group = atc_group(line.product.atc)
        if group:
            groups.setdefault(group, []).append(line)
    history = await _history(member.id, groups.keys(), today) if member else {}
    for line in lines:
        if member is not None:
            for alert in check_line(
                allergies, member.allergy_status, list(line.product.allergen_classes), line.product.substance
            ):
                detail: dict[str, Any] = {
                    "recorded_class": alert.recorded_class,
                    "product_class": alert.product_class,
                    "pair_level": alert.pair_level,
                    "rule": alert.rule,
                    "criticality": alert.criticality,
                    "reaction": alert.reaction,
                    "severity": alert.severity,
                    "action": alert.action,
                }
                entry = {
                    "line_no": line.line_no,
                    "product_id": line.product.id,
                    "sku": line.product.sku,
                    "name": line.product.name,
                    "level": alert.level,
                    "recorded_class": alert.recorded_class,
                    "product_class": alert.product_class,
                    "message": alert.message,
                }
                if alert.level == "high":
                    conflicts.append(entry)
                elif alert.level == "caution":
                    # One tap by selling staff of this store acknowledges it; a block is never cleared that way.
                    ack = acknowledged.get((line.line_no, alert.recorded_class or ""))
                    by = approvers.get(ack.by) if ack is not None else None
                    if ack is not None and by is not None and approver_ok(by, SALE_ROLES, req.store_id):
                        detail["acknowledged_by"] = ack.by
                        detail["acknowledged_by_name"] = by["display_name"]
                        detail["acknowledged_at"] = (ack.at or now).isoformat()
                    else:
                        unacknowledged.append(entry)
                line.alerts.append(LineAlert("allergy", alert.level, alert.message, detail))
        group = atc_group(line.product.atc)
        others = [o for o in groups.get(group, []) if o is not line and o.product.id != line.product.id]
        if others:
            message = _("Same drug group (%(atc)s) as %(other)s in this sale.") % {
                "atc": group,
                "other": others[0].product.name,
            }
            line.alerts.append(LineAlert("duplicate", "caution", message, {"atc_group": group, "source": "cart"}))
        for row in history.get(group, []):
            until = as_date(row["supply_until"])
            message = _("Bought %(other)s (same drug group %(atc)s) with supply until %(until)s.") % {
                "other": pick(row["name_zh"], row["name_en"] or row["name_zh"]),
                "atc": group,
                "until": until.isoformat() if until else "",
            }
            line.alerts.append(
                LineAlert(
                    "duplicate",
                    "caution",
                    message,
                    {"atc_group": group, "source": "history", "until": until.isoformat() if until else None},
                )
            )
            break

    for line in lines:
        warnings += warnings_of(line.product.name, [a.as_json() for a in line.alerts])

    if unacknowledged:
        blockers.append(
            (
                "allergy_ack",
                _("Allergy warning on %(names)s: acknowledge it on the line before payment.")
                % {"names": join_list(dict.fromkeys(e["name"] for e in unacknowledged))},
            )
        )
    if conflicts:
        override = req.override
        if override is None or not (override.reason or "").strip():
            blockers.append(
                ("allergy_high", _("High allergy risk: a pharmacist must override with a reason before payment."))
            )
        else:
            if not approver_ok(approvers.get(override.approved_by), PHARMACIST_ROLES, req.store_id):
                blockers.append(("override_invalid", _("Only a pharmacist or store manager may override an allergy.")))
            # With a reason the blocks the pharmacist saw are answered (a wrong approver is its own blocker); one
            # that came up since is not.
            covered = set(override.covers) if override.covers is not None else None
            conflicts = [
                c
                for c in conflicts
                if covered is not None and (c["product_id"], c["recorded_class"] or "") not in covered
            ]
            if conflicts:
                blockers.append(
                    (
                        "allergy_high",
                        _("A high allergy alert came up after the override: a pharmacist must look at it again."),
                    )
                )
    if any(line.is_rx for line in lines):
        rx = req.prescription
        if rx is None or not (rx.number or "").strip() or not (rx.hospital or "").strip():
            blockers.append(("rx_unverified", _("Prescription medicine: enter the prescription number and hospital.")))
        elif rx.verified_by is None or not approver_ok(approvers.get(rx.verified_by), PHARMACIST_ROLES, req.store_id):
            blockers.append(("rx_unverified", _("Prescription medicine: a pharmacist must verify the prescription.")))
    if req.oversell_approved_by is not None and not stock.oversell_allowed():
        blockers.append(("out_of_stock", _("Selling beyond stock is switched off for this chain.")))
    elif req.oversell_approved_by is not None and not approver_ok(
        approvers.get(req.oversell_approved_by), STOCK_ROLES, req.store_id
    ):
        blockers.append(("out_of_stock", _("Only a store manager may allow selling beyond stock.")))
    if any(line.line_discount for line in lines) and actor.role not in DISCOUNT_ROLES:
        blockers.append(("line_discount_forbidden", _("Your role may not give line discounts.")))

    # Totals and tenders.
    subtotal = sum(line.gross for line in lines)
    line_discount = sum(line.line_discount for line in lines)
    total = sum(line.total for line in lines)
    paid = sum(t.amount for t in req.tenders)
    non_cash = sum(t.amount for t in req.tenders if t.kind != "cash")
    points_tender = sum(t.amount for t in req.tenders if t.kind == "points")
    if member is not None and points_tender:
        needed, whole = points_for_fen(points_tender, rules)
        if not whole:
            blockers.append(("points", _("This amount cannot be paid in whole points.")))
        elif needed > member.points_balance:
            blockers.append(
                (
                    "points",
                    _("Not enough points: %(needed)s needed, %(balance)s available.")
                    % {"needed": needed, "balance": member.points_balance},
                )
            )
    cash = [i for i, t in enumerate(req.tenders) if t.kind == "cash"]
    cap = bounds.cash_cap(total, get_settings().cash_tender_multiple)
    if cash and paid - non_cash > cap:
        # More cash than anyone hands over for this total: a typing error (an extra zero), not change to give.
        message = _("More cash than this sale can take: at most %(max)s.") % {"max": f"¥{cap / 100:.2f}"}
        raise ValidationFailed({f"tenders.{cash[0]}.amount": message})
    if non_cash > total:
        blockers.append(("tender_over", _("Only cash may be more than the total.")))
    if paid < total:
        blockers.append(("tender_short", _("%(due)s still to pay.") % {"due": f"¥{(total - paid) / 100:.2f}"}))
    change = max(0, paid - total) if non_cash <= total else 0
    points_estimate = 0
    if member is not None and rules is not None:
        points_estimate = int(loyalty.points_for(eligible(lines, exclude_rx(rules)), rules, member.tier, today))
    return Quote(
        store_id=req.store_id,
        member=member,
        lines=lines,
        subtotal=subtotal,
        line_discount=line_discount,
        coupon_discount=coupon_discount,
        total=total,
        paid=paid,
        change=change,
        points_estimate=points_estimate,
        points_tender=points_tender,
        coupon=coupon_result,
        coupon_errors=coupon_errors,
        blockers=blockers,
        warnings=list(dict.fromkeys(warnings)),
        conflicts=conflicts,
        on_date=today,
        rules=rules,
        unacknowledged=unacknowledged,
    )
