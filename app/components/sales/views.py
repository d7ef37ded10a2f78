"""A recorded sale as the receipt, the API and the return screen show it: its lines, tenders, returns, approvals."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.components import catalog, timeline
from app.i18n import pick


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


def is_warning(alert: dict) -> bool:
    if alert.get("kind") == "duplicate":
        return True
    if alert.get("kind") != "allergy":
        return False
    return alert.get("level") in ("caution", "ask") or (
        alert.get("level") == "info" and alert.get("pair_level") == "caution"
    )


def warnings_of(name: str, alerts: list[dict]) -> list[str]:
    """The notes a line's alerts give the API's `warnings`: allergy warnings to acknowledge, a possible
    cross-sensitivity shown for a low-risk allergy, prompts to ask and duplicate therapy."""
    return [f"{name}: {a['message']}" for a in alerts if is_warning(a)]


def product_qty(product: catalog.ProductView, qty: int) -> str:
    """A timeline code for "name ×qty" that keeps both names, so each reader sees their language."""
    return f"{product.name_zh}|{product.name_en or product.name_zh}|{qty}"


def _product_qty_label(code: str) -> str:
    name_zh, name_en, qty = code.rsplit("|", 2) if code.count("|") >= 2 else (code, code, "")
    return f"{pick(name_zh, name_en)} ×{qty}"


timeline.register_labeller("product_qty", _product_qty_label)


def json_list(value: Any) -> list:
    if isinstance(value, list):
        return value
    if not value:
        return []
    try:
        found = json.loads(value)
    except (TypeError, ValueError):
        return []
    return found if isinstance(found, list) else []


def return_views(sale_no: str, rows: list[dict], refund_rows: list[dict]) -> list[ReturnView]:
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


def sale_view(
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
            alerts=json_list(r["alerts"]),
            codes=json_list(r["codes"]),
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
        returns=return_views(s["sale_no"], return_rows, refund_rows),
        store_phone=s.get("store_phone") or "",
        staff_role=s.get("staff_role") or "",
        warnings=list(dict.fromkeys(w for line in lines for w in warnings_of(line.name, line.alerts))),
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
