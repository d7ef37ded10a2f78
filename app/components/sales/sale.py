"""The sale: pricing and checks of a cart (`quote`), recording it once (`record_sale`), reading and returning it."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.components import audit, auth, catalog, coupons, health, loyalty, stock, timeline
from app.components.allergies import RecordedAllergy, check_line
from app.components.auth import check_password
from app.components.core import bounds
from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import DISCOUNT_ROLES, PHARMACIST_ROLES, RETURN_ROLES, SALE_ROLES, STOCK_ROLES, Role
from app.components.members import next_serials
from app.components.sales import chain_settings
from app.components.scanning import TRACEABILITY_PRODUCT_DIGITS, BadScan
from app.db import fetch, in_transaction, is_sqlite, marks, transaction
from app.i18n import N_, _, join_list, pick
from app.settings import get_settings

# Timeline kinds and audit action of this module.
PURCHASE = "purchase"
RETURNED = "return"
ALLERGY_OVERRIDE = "sale.allergy_override"
RETURN_APPROVAL = "sale.return_approval"
REFUND_TENDER_CHANGE = "sale.refund_tender_change"
# Tender kinds in the order the counter offers them.
TENDER_KINDS = ("cash", "bank_card", "wechat", "alipay", "insurance", "points")
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
# How far back the counter's sales list goes by date (a sale's number finds it whatever its age).
SALE_SEARCH_DAYS = 730
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


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class LineRequest:
    """One cart line: a scannable code or SKU (`code`) or an already resolved `product_id`; `line_discount` is
    fen off the whole line; `trace_codes` are the 20-digit traceability codes scanned for its units."""

    code: str = ""
    product_id: int | None = None
    qty: int = 1
    line_discount: int = 0
    trace_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TenderRequest:
    """One payment: kind in TENDER_KINDS, amount in fen (for points: fen paid with points)."""

    kind: str
    amount: int
    reference: str = ""


@dataclass(frozen=True)
class Override:
    """A pharmacist's override of high allergy alerts: the reason, the approving staff id and when (None: now).

    `covers` are the (product id, recorded allergen class) alerts the pharmacist saw when they overrode: an alert
    that came up since (an allergy recorded meanwhile at another counter, on the profile or through the API)
    blocks again until they look at it. None (the API, where the override comes with the sale itself) covers the
    alerts of that very request."""

    reason: str
    approved_by: int
    at: datetime | None = None
    covers: tuple[tuple[int, str], ...] | None = None


@dataclass(frozen=True)
class Prescription:
    """The prescription of the Rx lines; `verified_by` is the pharmacist's staff id once checked, at `verified_at`."""

    number: str
    hospital: str
    image: str = ""
    verified_by: int | None = None
    verified_at: datetime | None = None


@dataclass(frozen=True)
class Acknowledgement:
    """A tap that acknowledges the allergy warning (level `caution`) of line `line_no` (1-based) for the recorded
    allergen class: who (`by`, a selling staff id of the store) and when (None: now)."""

    line_no: int
    allergen_class: str
    by: int
    at: datetime | None = None


@dataclass(frozen=True)
class SaleRequest:
    """Everything a sale needs. `idempotency_key` makes retries of the same sale one sale."""

    idempotency_key: str
    store_id: int
    member_no: str | None
    lines: list[LineRequest]
    coupon_codes: list[str] = field(default_factory=list)
    tenders: list[TenderRequest] = field(default_factory=list)
    override: Override | None = None
    prescription: Prescription | None = None
    oversell_approved_by: int | None = None
    oversell_approved_at: datetime | None = None
    acknowledged: tuple[Acknowledgement, ...] = ()


@dataclass(frozen=True)
class ReturnRequest:
    """A refund: `lines` as (line_no, qty), or None for everything not yet returned.

    The money goes back to the sale's tenders (REFUND_ORDER) unless `refund_kind` names another tender of
    OTHER_REFUND_KINDS, which needs `refund_reason`. Dispensed Rx, antibiotic and cold-chain lines follow the
    chain's rule: refused, or approved by a store manager (the actor, or `approver_username` with their PIN).
    """

    idempotency_key: str
    sale_no: str
    lines: list[tuple[int, int]] | None
    reason: str
    refund_kind: str = ""
    refund_reason: str = ""
    approver_username: str = ""
    approver_pin: str = ""


# ---------------------------------------------------------------- errors


class AllergyBlocked(Exception):
    """A sale with allergy alerts still open: `conflicts` block until a pharmacist overrides them, `unacknowledged`
    warnings wait for one acknowledging tap; both are dicts (line_no, sku, name, level, recorded_class, message)."""

    def __init__(self, conflicts: list[dict], unacknowledged: list[dict] | None = None) -> None:
        self.conflicts = conflicts
        self.unacknowledged = list(unacknowledged or [])
        super().__init__("; ".join(c["message"] for c in [*conflicts, *self.unacknowledged]))


class NotPermitted(Exception):
    """The actor's role may not do this (routes answer 403); `.message` says what."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
    rows = await fetch("SELECT id FROM store WHERE code = {}", code)
    if not rows:
        raise ValidationFailed({"store": _("No store with code %(code)s.") % {"code": code}})
    if actor.store_id is not None and rows[0]["id"] != actor.store_id:
        raise NotPermitted(_("A store's token may only sell in its own store."))
    return rows[0]["id"]


# ---------------------------------------------------------------- quote


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


# ---------------------------------------------------------------- views


@dataclass(frozen=True)
class SaleLineView:
    """A recorded line."""

    id: int
    line_no: int
    product_id: int
    sku: str
    name: str
    atc: str
    rx_class: str
    qty: int
    unit_price: int
    line_discount: int
    coupon_share: int
    total: int
    returned_qty: int
    alerts: list[dict]
    codes: list[str]
    cold_chain: bool = False

    @property
    def returnable(self) -> int:
        return self.qty - self.returned_qty

    @property
    def restriction(self) -> str:
        """Why a dispensed unit of this line is not resaleable: "rx", "antibiotic", "cold_chain", or ""."""
        if self.rx_class == "Rx":
            return "rx"
        if (self.atc or "").upper().startswith("J01"):
            return "antibiotic"
        return "cold_chain" if self.cold_chain else ""


@dataclass(frozen=True)
class TenderView:
    kind: str
    amount: int
    reference: str


@dataclass(frozen=True)
class RefundTenderView:
    """Money of a refund paid out as `kind`, taken from the sale's `original_kind` tender."""

    kind: str
    original_kind: str
    amount: int

    @property
    def changed(self) -> bool:
        return self.kind != self.original_kind


@dataclass(frozen=True)
class ReturnView:
    """A recorded refund."""

    id: int
    return_no: str
    sale_no: str
    reason: str
    amount: int
    points_reversed: int
    points_restored: int
    staff_name: str
    created_at: datetime | None
    lines: list[tuple[int, int, int]]  # (line_no, qty, amount)
    tenders: list[RefundTenderView] = field(default_factory=list)
    approved_by_name: str | None = None  # the store manager who allowed a restricted return
    tender_reason: str = ""

    def as_json(self) -> dict:
        return {
            "return_no": self.return_no,
            "sale_no": self.sale_no,
            "reason": self.reason,
            "amount": self.amount,
            "points_reversed": self.points_reversed,
            "points_restored": self.points_restored,
            "created_at": self.created_at.isoformat() if isinstance(self.created_at, datetime) else self.created_at,
            "lines": [{"line_no": n, "qty": q, "amount": a} for n, q, a in self.lines],
            "tenders": [{"kind": t.kind, "from": t.original_kind, "amount": t.amount} for t in self.tenders],
            "tender_reason": self.tender_reason or None,
            "approved_by": self.approved_by_name,
        }


# The kinds of approval a sale records (table sale_approval), in the order they are shown.
APPROVAL_KINDS = ("allergy_override", "rx_verified", "allergy_acknowledged", "oversell")


@dataclass(frozen=True)
class ApprovalView:
    """One recorded approval of a sale: kind in APPROVAL_KINDS, the line and allergy it is about (when it is about
    one), the reason (an override's), who gave it (display name) and when."""

    kind: str
    line_no: int | None
    allergen_class: str
    reason: str
    by_id: int
    by_name: str
    at: datetime | None

    def as_json(self) -> dict:
        return {
            "kind": self.kind,
            "line_no": self.line_no,
            "allergen_class": self.allergen_class or None,
            "reason": self.reason,
            "by": self.by_name,
            "at": self.at.isoformat() if isinstance(self.at, datetime) else self.at,
        }


@dataclass(frozen=True)
class SaleView:
    """A recorded sale as the receipt, the API and the return screen show it."""

    id: int
    sale_no: str
    store_id: int
    store_code: str
    store_name: str
    staff_id: int
    staff_name: str
    member_id: int | None
    member_no: str | None
    member_name: str | None
    status: str
    subtotal: int
    line_discount: int
    coupon_discount: int
    total: int
    paid: int
    change_given: int
    points_earned: int
    points_redeemed: int
    override_reason: str
    override_by_name: str | None
    rx_number: str
    rx_hospital: str
    rx_verified_by_name: str | None
    created_at: datetime | None
    lines: list[SaleLineView]
    tenders: list[TenderView]
    returns: list[ReturnView]
    warnings: list[str] = field(default_factory=list)
    member_phone_masked: str = ""  # for the receipt, without reading (and auditing) the member's record
    approvals: list[ApprovalView] = field(default_factory=list)
    store_phone: str = ""
    staff_role: str = ""

    @property
    def refunded(self) -> int:
        return sum(r.amount for r in self.returns)

    @property
    def net_paid(self) -> int:
        """What the customer has paid for what they kept: the total less every refund."""
        return self.total - self.refunded

    def as_json(self) -> dict:
        """The API's sale body."""
        return {
            "sale_no": self.sale_no,
            "store": self.store_code,
            "status": self.status,
            "member_no": self.member_no,
            "member_name": self.member_name,
            "staff": self.staff_name,
            "created_at": self.created_at.isoformat() if isinstance(self.created_at, datetime) else self.created_at,
            "totals": {
                "subtotal": self.subtotal,
                "line_discount": self.line_discount,
                "coupon_discount": self.coupon_discount,
                "total": self.total,
                "paid": self.paid,
                "change": self.change_given,
                "refunded": self.refunded,
            },
            "points_earned": self.points_earned,
            "points_redeemed": self.points_redeemed,
            "lines": [
                {
                    "line_no": line.line_no,
                    "sku": line.sku,
                    "name": line.name,
                    "qty": line.qty,
                    "unit_price": line.unit_price,
                    "line_discount": line.line_discount,
                    "coupon_share": line.coupon_share,
                    "total": line.total,
                    "returned_qty": line.returned_qty,
                    "alerts": line.alerts,
                }
                for line in self.lines
            ],
            "tenders": [{"kind": t.kind, "amount": t.amount, "reference": t.reference} for t in self.tenders],
            "prescription": {"number": self.rx_number, "hospital": self.rx_hospital} if self.rx_number else None,
            "allergy_override": {"reason": self.override_reason, "by": self.override_by_name}
            if self.override_reason
            else None,
            "returns": [r.as_json() for r in self.returns],
            "warnings": self.warnings,
            "approvals": [a.as_json() for a in self.approvals],
        }


@dataclass(frozen=True)
class SaleResult:
    """`created` is False when the idempotency key had already made this sale."""

    sale: SaleView
    created: bool


@dataclass(frozen=True)
class ReturnResult:
    """`created` is False on a replayed key."""

    ret: ReturnView
    sale: SaleView
    created: bool


@dataclass(frozen=True)
class SaleSummary:
    """A row of the counter's recent-sales list."""

    sale_no: str
    created_at: datetime | None
    member_name: str | None
    staff_name: str
    total: int
    status: str
    lines: int


# ---------------------------------------------------------------- helpers


def _is_warning(alert: dict) -> bool:
    if alert.get("kind") == "duplicate":
        return True
    if alert.get("kind") != "allergy":
        return False
    return alert.get("level") in ("caution", "ask") or (
        alert.get("level") == "info" and alert.get("pair_level") == "caution"
    )


def _warnings(name: str, alerts: list[dict]) -> list[str]:
    """The notes a line's alerts give the API's `warnings`: allergy warnings to acknowledge, a possible
    cross-sensitivity shown for a low-risk allergy, prompts to ask and duplicate therapy."""
    return [f"{name}: {a['message']}" for a in alerts if _is_warning(a)]


def _as_date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _atc_group(atc: str) -> str:
    """The ATC level-4 group (chemical subgroup's parent): the first five characters, or "" when shorter."""
    atc = (atc or "").strip().upper()
    return atc[:5] if len(atc) >= 5 else ""


def _product_qty(product: catalog.ProductView, qty: int) -> str:
    """A timeline code for "name ×qty" that keeps both names, so each reader sees their language."""
    return f"{product.name_zh}|{product.name_en or product.name_zh}|{qty}"


def _product_qty_label(code: str) -> str:
    name_zh, name_en, qty = code.rsplit("|", 2) if code.count("|") >= 2 else (code, code, "")
    return f"{pick(name_zh, name_en)} ×{qty}"


timeline.register_labeller("product_qty", _product_qty_label)


async def _store(store_id: int) -> dict:
    rows = await fetch("SELECT id, code, name, phone FROM store WHERE id = {}", store_id)
    if not rows:
        raise ValidationFailed({"store": _("No store with id %(id)s.") % {"id": store_id}})
    return rows[0]


def _check_store(actor: StaffUser, store_id: int) -> None:
    """Store roles act in their own store only."""
    if actor.store_id is not None and actor.store_id != store_id:
        raise NotPermitted(_("You may only sell in your own store."))


@dataclass(frozen=True)
class Approver:
    """The staff member whose PIN approved something at a counter."""

    id: int
    display_name: str
    role: str


async def verify_pin(actor: StaffUser, username: str, pin: str, roles: Collection[str] = PHARMACIST_ROLES) -> Approver:
    """The approver whose username and PIN were typed at `actor`'s counter, when the PIN is theirs, they are active,
    their role is in `roles` and they work in the actor's store (HQ roles: any store); else ValidationFailed on
    field "pin". Five refused tries in a row lock the approver's PIN for 15 minutes (`pin_lock`); every refusal is
    audited with who typed it, the approver, the store and the time."""
    if not (username or "").strip() or not (pin or "").strip():
        raise ValidationFailed({"pin": _("Enter the approving user's name and PIN.")})
    wrong = ValidationFailed({"pin": _("Wrong user or PIN, or this user may not approve it.")})
    typed = username.strip()
    sql = "SELECT id, username, display_name, role, store, pin_hash, active FROM staff WHERE username = {}"
    rows = await fetch(sql, typed.lower()) or await fetch(sql, typed)
    if not rows:
        await auth.unknown_approver(actor, typed)
        raise wrong
    row = rows[0]
    attempt = await auth.claim(row["id"])
    if not attempt.allowed:
        assert attempt.locked_until is not None
        await auth.refused_while_locked(actor, row["id"], row["username"], attempt.locked_until)
        raise ValidationFailed({"pin": auth.locked_error(row["display_name"], attempt.locked_until)})
    store_id = actor.store_id
    why = ""
    if not await check_password(row["pin_hash"], pin.strip()):
        why = "wrong PIN"
    elif not row["active"] or row["role"] not in roles:
        why = "may not approve this"
    elif row["store"] is not None and store_id is not None and row["store"] != store_id:
        why = "works in another store"
    if why:
        until = await auth.failed(actor, row["id"], row["username"], attempt, why)
        if until is not None:
            raise ValidationFailed({"pin": auth.locked_error(row["display_name"], until)})
        raise wrong
    await auth.succeeded(row["id"])
    return Approver(id=row["id"], display_name=row["display_name"], role=row["role"])


async def _approvers(ids: Collection[int]) -> dict[int, dict]:
    """Active staff rows by id (one query) for checking who approved overrides, prescriptions and overselling."""
    wanted = sorted({int(i) for i in ids if i is not None})
    if not wanted:
        return {}
    rows = await fetch(
        f"SELECT id, role, store, display_name FROM staff WHERE active = {{}} AND id IN ({marks(len(wanted))})",
        True,
        *wanted,
    )
    return {r["id"]: r for r in rows}


def _approver_ok(row: dict | None, roles: Collection[str], store_id: int) -> bool:
    return row is not None and row["role"] in roles and (row["store"] is None or row["store"] == store_id)


async def _member(member_no: str) -> tuple[QuoteMember, list[RecordedAllergy], loyalty.LoyaltyRules]:
    """The member (following a merge to the survivor), their tier, points balance and active recorded allergies
    (with criticality, reaction and severity: the check weighs them), and the loyalty rules (read with them: a
    member's sale needs both)."""
    sql = (
        "SELECT m.id, m.member_no, m.name, m.phone_masked, m.allergy_status, m.merged_into,"
        " ml.tier, ml.balance,"  # the cached balance: kept equal to the ledger's sum in every ledger write
        " a.allergen_class, a.substance, a.criticality, a.reaction, a.severity,"
        " (SELECT ls.value FROM loyalty_setting ls WHERE ls.name = {}) AS rules"
        " FROM member m LEFT JOIN member_loyalty ml ON ml.member = m.id"
        " LEFT JOIN allergy a ON a.member = m.id AND a.clinical_status = 'active'"
        " AND a.verification_status NOT IN ('refuted', 'entered-in-error')"
    )
    rows = await fetch(sql + " WHERE m.member_no = {}", loyalty.RULES_SETTING, (member_no or "").strip())
    if rows and rows[0]["merged_into"]:
        rows = await fetch(sql + " WHERE m.id = {}", loyalty.RULES_SETTING, rows[0]["merged_into"])
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
    rows = await fetch(
        "SELECT md.atc, md.supply_until, md.started_on, p.name_zh, p.name_en FROM medication md"
        " JOIN product p ON p.id = md.product"
        " WHERE md.member = {} AND md.supply_until >= {}",
        member_id,
        today,
    )
    found: dict[str, list[dict]] = {}
    for row in rows:
        group = _atc_group(row["atc"])
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
        )
        for line in lines
    ]


def _eligible(lines: list[QuoteLine], exclude_rx: bool) -> int:
    """What earns points: line totals after all discounts, without points-excluded (and, by rule, Rx) products."""
    return sum(
        line.total
        for line in lines
        if not line.product.points_excluded and not (exclude_rx and line.product.rx_class == "Rx")
    )


def _exclude_rx(rules: Any) -> bool:
    return bool(getattr(rules, "exclude_rx", False)) if rules is not None else False


def _points_for_fen(amount: int, rules: Any) -> tuple[int, bool]:
    """Points a points tender of `amount` fen uses, and whether the amount is a whole number of points."""
    per_yuan = int(getattr(rules, "redeem_points_per_yuan", 100) or 100) if rules is not None else 100
    return -(-amount * per_yuan // 100), (amount * per_yuan) % 100 == 0


# ---------------------------------------------------------------- quote


async def quote(req: SaleRequest, actor: StaffUser) -> Quote:
    """Price and check a cart without writing anything (the counter calls it on every change).

    Bad input (unknown code or product, qty < 1, unknown member or store, unknown tender kind) raises
    ValidationFailed with fields `lines.<i>.code`, `lines.<i>.qty`, `member_no`, `store`, `tenders.<i>.kind`.
    Everything else is reported: per-line alerts, coupon errors, and `blockers`. Queries are batched: products,
    member with allergies, medication history, stock, coupons and approvers each take one round trip.
    """
    _check_store(actor, req.store_id)
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
    approvers = await _approvers(
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
        group = _atc_group(line.product.atc)
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
                    if ack is not None and by is not None and _approver_ok(by, SALE_ROLES, req.store_id):
                        detail["acknowledged_by"] = ack.by
                        detail["acknowledged_by_name"] = by["display_name"]
                        detail["acknowledged_at"] = (ack.at or now).isoformat()
                    else:
                        unacknowledged.append(entry)
                line.alerts.append(LineAlert("allergy", alert.level, alert.message, detail))
        group = _atc_group(line.product.atc)
        others = [o for o in groups.get(group, []) if o is not line and o.product.id != line.product.id]
        if others:
            message = _("Same drug group (%(atc)s) as %(other)s in this sale.") % {
                "atc": group,
                "other": others[0].product.name,
            }
            line.alerts.append(LineAlert("duplicate", "caution", message, {"atc_group": group, "source": "cart"}))
        for row in history.get(group, []):
            until = _as_date(row["supply_until"])
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
        warnings += _warnings(line.product.name, [a.as_json() for a in line.alerts])

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
            if not _approver_ok(approvers.get(override.approved_by), PHARMACIST_ROLES, req.store_id):
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
        elif rx.verified_by is None or not _approver_ok(approvers.get(rx.verified_by), PHARMACIST_ROLES, req.store_id):
            blockers.append(("rx_unverified", _("Prescription medicine: a pharmacist must verify the prescription.")))
    if req.oversell_approved_by is not None and not stock.oversell_allowed():
        blockers.append(("out_of_stock", _("Selling beyond stock is switched off for this chain.")))
    elif req.oversell_approved_by is not None and not _approver_ok(
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
        needed, whole = _points_for_fen(points_tender, rules)
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
        points_estimate = int(loyalty.points_for(_eligible(lines, _exclude_rx(rules)), rules, member.tier, today))
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


# ---------------------------------------------------------------- recording


class _Replay(Exception):
    """Another transaction already recorded this idempotency key: roll ours back and return theirs."""


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


def _is_unique_violation(exc: BaseException) -> bool:
    name = type(exc).__name__
    text = str(exc).lower()
    return name in ("UniqueViolationError", "IntegrityError") and ("unique" in text or "duplicate" in text)


async def _committed_serial(sequence: str, table: str) -> int:
    """The next number of a sale or return, taken in its own committed statement before the transaction that
    writes the row: a transaction that rolls back leaves a gap, never a number the next one gets again (inside it,
    on SQLite, the sequence's increment would roll back with it). On PostgreSQL its row lock, held by the
    transaction, would also make every sale of the chain wait for the one before it.

    On SQLite the row's id is this number too (`_serial_ids`): a rolled-back INSERT frees its rowid for the next
    one, so ids must come from here as well. The number starts above the table's highest id, so an id written
    without it (imported history, a test's row) is never taken again."""
    if in_transaction():
        raise RuntimeError("a sale or return number is taken outside any transaction, so that it stays taken")
    if not is_sqlite():
        return await next_serials(sequence)
    rows = await fetch(
        f"UPDATE number_sequence SET value = MAX(value, (SELECT COALESCE(MAX(id), 0) FROM {table})) + 1"
        " WHERE name = {} RETURNING value",
        sequence,
    )
    return rows[0]["value"]


@dataclass(frozen=True)
class _SerialIds:
    """The id column of an INSERT that sets it to the row's serial (SQLite), or nothing (PostgreSQL's own
    sequence, which a rollback does not give back)."""

    column: str
    mark: str
    values: tuple[int, ...]


def _serial_ids(serial: int) -> _SerialIds:
    return _SerialIds("id, ", "{}, ", (serial,)) if is_sqlite() else _SerialIds("", "", ())


async def _sale_id_by_key(key: str) -> int | None:
    rows = await fetch("SELECT id FROM sale WHERE idempotency_key = {}", key)
    return rows[0]["id"] if rows else None


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
        _check_store(actor, req.store_id)
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
        existing = await _sale_id_by_key(key)
        if existing is not None:
            return await _replayed(existing, actor)
        raise
    try:
        written = await _write_sale(req, q, store, key, actor)
    except _Replay:
        written = None
    except Exception as exc:
        if not _is_unique_violation(exc):
            raise
        written = None
    if written is None:
        found = await _sale_id_by_key(key)
        if found is None:
            raise RuntimeError("sale key conflict without a sale")
        return await _replayed(found, actor)
    sale_id, view = written
    # The view built from what was just written is what `_load_sale` would read back; the approvers' names of an
    # allergy override or a verified prescription are not at hand, so those (rarer) sales are read back.
    return SaleResult(view if view is not None else await _load_sale(sale_id), created=True)


async def _replayed(sale_id: int, actor: StaffUser) -> SaleResult:
    """The sale an idempotency key already made; another store's staff learn only that the key is taken."""
    view = await _load_sale(sale_id)
    if actor.store_id is not None and view.store_id != actor.store_id:
        raise ValidationFailed({"idempotency_key": _("This idempotency key was already used for another sale.")})
    return SaleResult(view, created=False)


async def _write_sale(
    req: SaleRequest, q: Quote, store: dict, key: str, actor: StaffUser
) -> tuple[int, SaleView | None]:
    """All writes of a sale in one transaction; returns the sale id and its view (None when it needs reading
    back), or raises _Replay."""
    now = datetime.now(UTC)
    today = q.on_date or store_today()
    member = q.member
    override = req.override if req.override and (req.override.reason or "").strip() else None
    overridden = override is not None and any(
        alert.kind == "allergy" and alert.level == "high" for line in q.lines for alert in line.alerts
    )
    rx = req.prescription if q.needs_rx else None
    cash_change = q.change
    if await _sale_id_by_key(key) is not None:
        raise _Replay()  # a replay must not use up a sale number
    serial = await _committed_serial("sale", "sale")
    # Points as quoted (0 without a member), so the sale row is written once; corrected below if earning finds
    # a new tier. A member's quote carries the rules it was priced with.
    rules = q.rules
    points_redeemed = _points_for_fen(q.points_tender, rules)[0] if member is not None and q.points_tender else 0
    sale_no = f"S{store['code']}{serial:08d}"
    ids = _serial_ids(serial)
    # A short transaction: a few indexed statements per line (see app.db.transaction). The key's unique index
    # (ON CONFLICT … DO NOTHING) tells a replay that got here first.
    async with transaction(short=True):
        inserted = await fetch(
            "INSERT INTO sale (" + ids.column + "sale_no, idempotency_key, store, staff, member, status, subtotal,"
            " line_discount, coupon_discount, total, paid, change_given, points_earned, points_redeemed,"
            " override_reason, override_by, rx_number, rx_hospital, rx_image, rx_verified_by, created_at)"
            " VALUES (" + ids.mark + "{}, {}, {}, {}, {}, 'completed', {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},"
            " {}, {}, {}, {}) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            *ids.values,
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
        )
        if not inserted:
            raise _Replay()
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
        values = ", ".join("({}, {}, {}, {}, {}, {}, {}, {}, 0, {}, {})" for _ in q.lines)
        rows = await fetch(
            "INSERT INTO sale_line (sale, line_no, product, qty, unit_price, line_discount, coupon_share, total,"
            f" returned_qty, alerts, codes) VALUES {values} RETURNING id, line_no",
            *args,
        )
        line_ids = {r["line_no"]: r["id"] for r in rows}

        # Traceability codes: one unit each, never sold twice while not returned.
        traced = [(line_ids[line.line_no], code) for line in q.lines for code in line.trace_codes]
        if traced:
            codes = [code for _, code in traced]
            if len(set(codes)) != len(codes):
                raise ValidationFailed({"trace_codes": _("The same traceability code was scanned twice.")})
            sold = await fetch(
                f"SELECT code FROM sale_trace_code WHERE returned = 0 AND code IN ({marks(len(codes))})", *codes
            )
            if sold:
                raise ValidationFailed(
                    {
                        "trace_codes": _("Traceability code %(code)s was already sold.")
                        % {"code": join_list(r["code"] for r in sold)}
                    }
                )
            # The partial unique index is the guard when two counters sell the same unit at once.
            inserted_codes = await fetch(
                "INSERT INTO sale_trace_code (sale_line, code, returned) VALUES "
                + ", ".join("({}, {}, 0)" for _ in traced)
                + " ON CONFLICT (code) WHERE returned = 0 DO NOTHING RETURNING code",
                *[x for pair in traced for x in pair],
            )
            if len(inserted_codes) != len(traced):
                taken = sorted(set(codes) - {r["code"] for r in inserted_codes})
                raise ValidationFailed(
                    {"trace_codes": _("Traceability code %(code)s was already sold.") % {"code": join_list(taken)}}
                )

        # Tenders.
        if req.tenders:
            await fetch(
                "INSERT INTO sale_tender (sale, kind, amount, reference) VALUES "
                + ", ".join("({}, {}, {}, {})" for _ in req.tenders),
                *[x for t in req.tenders for x in (sale_id, t.kind, t.amount, (t.reference or "")[:60])],
            )

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
            eligible = _eligible(q.lines, _exclude_rx(rules))
            if eligible > 0:
                points_earned = int(
                    await loyalty.earn(member.id, sale_no, eligible, today, req.store_id, actor, known_rules=rules)
                )
            if points_earned != q.points_estimate:
                await fetch("UPDATE sale SET points_earned = {} WHERE id = {}", points_earned, sale_id)

            # Medication history: one row per line, with its days of supply.
            args = []
            for line in q.lines:
                days = line.product.days_supply if line.product.units_per_day and line.product.days_supply else None
                until = today + timedelta(days=days * line.qty - 1) if days else None
                args += [member.id, line_ids[line.line_no], line.product.id, line.product.atc[:8], line.qty, today]
                args += [until, req.store_id]
            await fetch(
                "INSERT INTO medication (member, sale_line, product, atc, qty, started_on, supply_until, store) VALUES "
                + ", ".join("({}, {}, {}, {}, {}, {}, {}, {})" for _ in q.lines),
                *args,
            )
            atcs = [line.product.atc for line in q.lines if line.product.atc]
            if atcs:
                await health.infer_conditions_from_atc(member.id, atcs, actor)
            await timeline.record_event(
                member.id,
                PURCHASE,
                timeline.message(
                    N_("Bought %(items)s — %(total)s"),
                    items=timeline.Label(
                        "product_qty", tuple(_product_qty(line.product, line.qty) for line in q.lines)
                    ),
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

        approvals = _approval_rows(req, q, override if overridden else None, rx, now)
        if approvals:
            await fetch(
                "INSERT INTO sale_approval (sale, kind, line_no, allergen_class, reason, staff, at) VALUES "
                + ", ".join("({}, {}, {}, {}, {}, {}, {})" for _ in approvals),
                *[x for row in approvals for x in (sale_id, *row)],
            )

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
        await fetch(
            "INSERT INTO outbox (key, kind, member, store, payload, created_at) VALUES ({}, {}, {}, {}, {}, {})",
            f"sale:{sale_no}",
            "sale.completed",
            member.id if member else None,
            req.store_id,
            json.dumps(payload, ensure_ascii=False),
            now,
        )
    if approvals:
        return sale_id, None  # the approvers' names are read back with the approvals
    return sale_id, _written_view(
        sale_id, sale_no, store, actor, q, req, line_ids, now, points_earned, points_redeemed, cash_change
    )


def _approval_rows(
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
    """The SaleView `_load_sale` would read back for a sale just written (no override, no prescription)."""
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
    return _sale_view(row, line_rows, tender_rows, [], [], [])


# ---------------------------------------------------------------- reading


def _json_list(value: Any) -> list:
    if isinstance(value, list):
        return value
    if not value:
        return []
    try:
        found = json.loads(value)
    except (TypeError, ValueError):
        return []
    return found if isinstance(found, list) else []


async def _load_sale(sale_id: int) -> SaleView:
    rows = await fetch(
        "SELECT s.*, st.code AS store_code, st.name AS store_name, st.phone AS store_phone,"
        " sf.display_name AS staff_name, sf.role AS staff_role,"
        " m.member_no, m.name AS member_name, m.phone_masked AS member_phone_masked,"
        " ob.display_name AS override_by_name,"
        " rb.display_name AS rx_verified_by_name"
        " FROM sale s JOIN store st ON st.id = s.store JOIN staff sf ON sf.id = s.staff"
        " LEFT JOIN member m ON m.id = s.member LEFT JOIN staff ob ON ob.id = s.override_by"
        " LEFT JOIN staff rb ON rb.id = s.rx_verified_by WHERE s.id = {}",
        sale_id,
    )
    if not rows:
        raise NotFound(_("No sale with id %(id)s.") % {"id": sale_id})
    s = rows[0]
    line_rows = await fetch(
        "SELECT sl.*, p.sku, p.name_zh, p.name_en, p.atc, p.rx_class, p.cold_chain FROM sale_line sl"
        " JOIN product p ON p.id = sl.product WHERE sl.sale = {} ORDER BY sl.line_no",
        sale_id,
    )
    tender_rows = await fetch("SELECT kind, amount, reference FROM sale_tender WHERE sale = {} ORDER BY id", sale_id)
    return_rows = await fetch(
        "SELECT r.id, r.return_no, r.reason, r.amount, r.points_reversed, r.points_restored, r.created_at,"
        " r.tender_reason, sf.display_name AS staff_name, ab.display_name AS approved_by_name,"
        " sl.line_no, rl.qty, rl.amount AS line_amount"
        " FROM sale_return r JOIN staff sf ON sf.id = r.staff LEFT JOIN staff ab ON ab.id = r.approved_by"
        " LEFT JOIN sale_return_line rl ON rl.sale_return = r.id LEFT JOIN sale_line sl ON sl.id = rl.sale_line"
        " WHERE r.sale = {} ORDER BY r.id, sl.line_no",
        sale_id,
    )
    approval_rows = await fetch(
        "SELECT a.kind, a.line_no, a.allergen_class, a.reason, a.staff, a.at, sf.display_name AS by_name"
        " FROM sale_approval a JOIN staff sf ON sf.id = a.staff WHERE a.sale = {} ORDER BY a.id",
        sale_id,
    )
    refund_rows = (
        await fetch(
            "SELECT rt.sale_return, rt.kind, rt.original_kind, rt.amount FROM sale_return_tender rt"
            " JOIN sale_return r ON r.id = rt.sale_return WHERE r.sale = {} ORDER BY rt.id",
            sale_id,
        )
        if return_rows
        else []
    )
    return _sale_view(s, line_rows, tender_rows, return_rows, refund_rows, approval_rows)


def _return_views(sale_no: str, rows: list[dict], refund_rows: list[dict]) -> list[ReturnView]:
    grouped: dict[int, tuple[dict, list[tuple[int, int, int]]]] = {}
    for row in rows:
        entry = grouped.setdefault(row["id"], (row, []))
        if row["line_no"] is not None:
            entry[1].append((row["line_no"], row["qty"], row["line_amount"]))
    refunds: dict[int, list[RefundTenderView]] = {}
    for r in refund_rows:
        refunds.setdefault(r["sale_return"], []).append(RefundTenderView(r["kind"], r["original_kind"], r["amount"]))
    return [
        ReturnView(
            id=row["id"],
            return_no=row["return_no"],
            sale_no=sale_no,
            reason=row["reason"],
            amount=row["amount"],
            points_reversed=row["points_reversed"],
            points_restored=row["points_restored"],
            staff_name=row["staff_name"],
            created_at=row["created_at"],
            lines=lines,
            tenders=refunds.get(row["id"], []),
            approved_by_name=row.get("approved_by_name"),
            tender_reason=row.get("tender_reason") or "",
        )
        for row, lines in grouped.values()
    ]


def _sale_view(
    s: dict,
    line_rows: list[dict],
    tender_rows: list[dict],
    return_rows: list[dict],
    refund_rows: list[dict],
    approval_rows: list[dict],
) -> SaleView:
    lines = [
        SaleLineView(
            id=r["id"],
            line_no=r["line_no"],
            product_id=r["product"],
            sku=r["sku"],
            name=pick(r["name_zh"], r["name_en"] or r["name_zh"]),
            atc=r["atc"] or "",
            rx_class=r["rx_class"],
            qty=r["qty"],
            unit_price=r["unit_price"],
            line_discount=r["line_discount"],
            coupon_share=r["coupon_share"],
            total=r["total"],
            returned_qty=r["returned_qty"],
            alerts=_json_list(r["alerts"]),
            codes=_json_list(r["codes"]),
            cold_chain=bool(r.get("cold_chain")),
        )
        for r in line_rows
    ]
    return SaleView(
        id=s["id"],
        sale_no=s["sale_no"],
        store_id=s["store"],
        store_code=s["store_code"],
        store_name=s["store_name"],
        staff_id=s["staff"],
        staff_name=s["staff_name"],
        member_id=s["member"],
        member_no=s["member_no"],
        member_name=s["member_name"],
        member_phone_masked=s.get("member_phone_masked") or "",
        status=s["status"],
        subtotal=s["subtotal"],
        line_discount=s["line_discount"],
        coupon_discount=s["coupon_discount"],
        total=s["total"],
        paid=s["paid"],
        change_given=s["change_given"],
        points_earned=s["points_earned"],
        points_redeemed=s["points_redeemed"],
        override_reason=s["override_reason"] or "",
        override_by_name=s["override_by_name"],
        rx_number=s["rx_number"] or "",
        rx_hospital=s["rx_hospital"] or "",
        rx_verified_by_name=s["rx_verified_by_name"],
        created_at=s["created_at"],
        lines=lines,
        tenders=[TenderView(r["kind"], r["amount"], r["reference"] or "") for r in tender_rows],
        returns=_return_views(s["sale_no"], return_rows, refund_rows),
        store_phone=s.get("store_phone") or "",
        staff_role=s.get("staff_role") or "",
        warnings=list(dict.fromkeys(w for line in lines for w in _warnings(line.name, line.alerts))),
        approvals=[
            ApprovalView(
                kind=r["kind"],
                line_no=r["line_no"],
                allergen_class=r["allergen_class"] or "",
                reason=r["reason"] or "",
                by_id=r["staff"],
                by_name=r["by_name"],
                at=r["at"],
            )
            for r in approval_rows
        ],
    )


async def get_sale(sale_no: str, actor: StaffUser) -> SaleView:
    """A sale with its lines, tenders and returns; NotFound when unknown or in another store (store roles)."""
    rows = await fetch("SELECT id, store FROM sale WHERE sale_no = {}", (sale_no or "").strip().upper())
    if not rows or (actor.store_id is not None and rows[0]["store"] != actor.store_id):
        raise NotFound(_("No sale with number %(no)s.") % {"no": sale_no})
    return await _load_sale(rows[0]["id"])


async def recent_sales(
    store_id: int, limit: int = 20, on_date: date | None = None, number: str = ""
) -> list[SaleSummary]:
    """The store's latest sales (of `on_date` in the store zone when given; whose number contains `number` when
    given), newest first."""
    where, args = "s.store = {}", [store_id]
    if on_date is not None:
        zone = ZoneInfo(get_settings().timezone)
        start = datetime.combine(on_date, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        where += " AND s.created_at >= {} AND s.created_at < {}"
        args += [start, start + timedelta(days=1)]
    text = normalize_number(number)
    if text:
        where += " AND s.sale_no LIKE {}"
        args.append("%" + text.replace("%", "").replace("_", "") + "%")
    rows = await fetch(
        "SELECT s.sale_no, s.created_at, s.total, s.status, m.name AS member_name, sf.display_name AS staff_name,"
        " (SELECT COUNT(*) FROM sale_line sl WHERE sl.sale = s.id) AS lines"
        " FROM sale s JOIN staff sf ON sf.id = s.staff LEFT JOIN member m ON m.id = s.member"
        f" WHERE {where} ORDER BY s.created_at DESC, s.id DESC LIMIT {max(1, min(int(limit), 200))}",
        *args,
    )
    return [
        SaleSummary(
            r["sale_no"], r["created_at"], r["member_name"], r["staff_name"], r["total"], r["status"], r["lines"]
        )
        for r in rows
    ]


def normalize_number(text: str) -> str:
    """A sale or return number as typed or scanned from a receipt's barcode: no spaces, upper case, at most 40
    characters (anything longer is no number of ours)."""
    return "".join((text or "").split()).upper()[:40]


async def sale_no_for(store_id: int, number: str) -> str | None:
    """The sale a scanned or typed number names in this store: a sale number, or the number of one of its
    returns (a refund slip); None when it names neither."""
    text = normalize_number(number)
    if not text:
        return None
    rows = await fetch(
        "SELECT sale_no FROM sale WHERE sale_no = {} AND store = {}"
        " UNION ALL SELECT s.sale_no FROM sale_return r JOIN sale s ON s.id = r.sale"
        " WHERE r.return_no = {} AND r.store = {}",
        text,
        store_id,
        text,
        store_id,
    )
    return rows[0]["sale_no"] if rows else None


def sales_date(text: str, today: date | None = None) -> date:
    """The date picked on the counter's sales list (YYYY-MM-DD), within the last SALE_SEARCH_DAYS and not
    after today; ValidationFailed on field "date" otherwise."""
    today = today or store_today()
    earliest = today - timedelta(days=SALE_SEARCH_DAYS)
    try:
        picked = date.fromisoformat((text or "").strip())
    except ValueError:
        raise ValidationFailed({"date": _("Pick a date (YYYY-MM-DD).")}) from None
    if picked > today:
        raise ValidationFailed({"date": _("Pick today or an earlier day.")})
    if picked < earliest:
        raise ValidationFailed(
            {
                "date": _("Sales are listed by date back to %(date)s; find an older sale by its number.")
                % {"date": earliest.isoformat()}
            }
        )
    return picked


# ---------------------------------------------------------------- returns


def _share(whole: int, done_before: int, done_after: int, of: int) -> int:
    """The part of `whole` for going from `done_before` to `done_after` out of `of`, floored cumulatively so the
    parts of a complete return add up to `whole` exactly."""
    if of <= 0:
        return 0
    return whole * done_after // of - whole * done_before // of


async def _return_by_key(key: str) -> tuple[int, int] | None:
    rows = await fetch("SELECT id, sale FROM sale_return WHERE idempotency_key = {}", key)
    return (rows[0]["id"], rows[0]["sale"]) if rows else None


async def _return_result(return_id: int, sale_id: int, created: bool) -> ReturnResult:
    sale = await _load_sale(sale_id)
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
    found = await _return_by_key(key)
    if found is not None:
        return await _return_result(found[0], found[1], created=False)
    sale = await get_sale(req.sale_no, actor)
    wanted = _return_quantities(sale, req.lines)
    approver = await _restricted_approval(sale, wanted, req, actor)
    choice = _RefundChoice(refund_kind, (req.refund_reason or "").strip() if refund_kind else "", approver)
    try:
        return_id = await _write_return(sale, wanted, key, req.reason.strip(), actor, choice)
    except _Replay:
        return_id = None
    except Exception as exc:
        if not _is_unique_violation(exc):
            raise
        return_id = None
    if return_id is None:
        found = await _return_by_key(key)
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
    serial = await _committed_serial("return", "sale_return")  # outside the transaction, as for sales
    return_no = f"R{sale.store_code}{serial:08d}"
    ids = _serial_ids(serial)
    async with transaction():
        # First, so two refunds of one sale at once each read what the other paid out (see refund_split below).
        await stock.lock_store(sale.store_id)
        if await _return_by_key(key) is not None:
            raise _Replay()
        inserted = await fetch(
            "INSERT INTO sale_return (" + ids.column + "return_no, idempotency_key, sale, store, staff, reason,"
            " amount, points_reversed, points_restored, approved_by, tender_reason, created_at) VALUES ("
            + ids.mark
            + "{}, {}, {}, {}, {}, {}, 0, 0, 0, {}, {}, {}) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            *ids.values,
            return_no,
            key,
            sale.id,
            sale.store_id,
            actor.id,
            reason,
            choice.approved_by,
            choice.reason,
            now,
        )
        if not inserted:
            raise _Replay()
        return_id = inserted[0]["id"]
        amount = 0
        fully_returned: list[SaleLineView] = []
        for line_no, qty in sorted(wanted.items()):
            line = by_no[line_no]
            # The conditional update is the guard against two refunds of the same units at once.
            updated = await fetch(
                "UPDATE sale_line SET returned_qty = returned_qty + {} WHERE id = {} AND returned_qty + {} <= qty"
                " RETURNING returned_qty",
                qty,
                line.id,
                qty,
            )
            if not updated:
                raise ValidationFailed({f"lines.{line_no}": _("%(name)s was already returned.") % {"name": line.name}})
            after = updated[0]["returned_qty"]
            part = _share(line.total, after - qty, after, line.qty)
            amount += part
            await fetch(
                "INSERT INTO sale_return_line (sale_return, sale_line, qty, amount) VALUES ({}, {}, {}, {})",
                return_id,
                line.id,
                qty,
                part,
            )
            await stock.quarantine_return(
                sale.store_id, sale.sale_no, line_no, qty, return_no, actor, restricted=bool(line.restriction)
            )
            await fetch(
                "UPDATE sale_trace_code SET returned = 1 WHERE id IN (SELECT id FROM sale_trace_code"
                f" WHERE sale_line = {{}} AND returned = 0 ORDER BY id LIMIT {int(qty)})",
                line.id,
            )
            if sale.member_id is not None:
                remaining = line.qty - after
                if remaining <= 0:
                    fully_returned.append(line)
                    await fetch("DELETE FROM medication WHERE sale_line = {}", line.id)
                else:
                    product = products.get(line.product_id)
                    days = product.days_supply if product is not None and product.units_per_day else None
                    med = await fetch("SELECT started_on FROM medication WHERE sale_line = {}", line.id)
                    if med:
                        started = _as_date(med[0]["started_on"])
                        until = started + timedelta(days=days * remaining - 1) if days and started else None
                        await fetch(
                            "UPDATE medication SET qty = {}, supply_until = {} WHERE sale_line = {}",
                            remaining,
                            until,
                            line.id,
                        )

        # Points and status from the sale's refunds so far (cumulative, so a full return is exact).
        totals = await fetch(
            "SELECT COALESCE(SUM(amount), 0) AS refunded, COALESCE(SUM(points_restored), 0) AS restored"
            " FROM sale_return WHERE sale = {} AND id <> {}",
            sale.id,
            return_id,
        )
        before = int(totals[0]["refunded"])
        restored_before = int(totals[0]["restored"])
        after_all = before + amount
        left = await fetch(
            "SELECT COALESCE(SUM(qty - returned_qty), 0) AS remaining FROM sale_line WHERE sale = {}", sale.id
        )
        whole = int(left[0]["remaining"]) == 0
        if whole:
            after_all = sale.total  # rounding can leave nothing else: every line is back
        reverse = _share(sale.points_earned, before, after_all, sale.total) if sale.total else sale.points_earned
        # The money back to the sale's tenders, in REFUND_ORDER after what earlier refunds took from each.
        paid_out = await fetch(
            "SELECT rt.original_kind, SUM(rt.amount) AS amount FROM sale_return_tender rt"
            " JOIN sale_return r ON r.id = rt.sale_return WHERE r.sale = {} GROUP BY rt.original_kind",
            sale.id,
        )
        refunded = {r["original_kind"]: int(r["amount"]) for r in paid_out}
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
            await fetch(
                "INSERT INTO sale_return_tender (sale_return, kind, original_kind, amount) VALUES "
                + ", ".join("({}, {}, {}, {})" for _ in paid),
                *[x for row in paid for x in (return_id, *row)],
            )
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
        await fetch(
            "UPDATE sale_return SET amount = {}, points_reversed = {}, points_restored = {} WHERE id = {}",
            amount,
            reversed_pts,
            restored_pts,
            return_id,
        )
        await fetch("UPDATE sale SET status = {} WHERE id = {}", "returned" if whole else "part_returned", sale.id)
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
        await fetch(
            "INSERT INTO outbox (key, kind, member, store, payload, created_at) VALUES ({}, {}, {}, {}, {}, {})",
            f"return:{return_no}",
            "sale.returned",
            sale.member_id,
            sale.store_id,
            json.dumps(payload, ensure_ascii=False),
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
                        tuple(_product_qty(products[by_no[n].product_id], q) for n, q in sorted(wanted.items())),
                    ),
                    sale=sale.sale_no,
                    amount=f"¥{amount / 100:.2f}",
                    reason=reason,
                ),
                actor,
                ref=return_no,
            )
    return return_id
