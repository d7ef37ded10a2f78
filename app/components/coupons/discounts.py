"""What coupons do to a cart, without writing anything: each code checked (known, issued, the member's, in its
window, within the limit, stackable), applied in the order given to what earlier ones left of its scope, the
discount shared over the lines exactly."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from app.components.coupons import queries
from app.components.coupons.codes import normalize_code
from app.components.coupons.templates import yuan
from app.db import as_date
from app.i18n import _, pick


@dataclass(frozen=True)
class CouponLine:
    """A cart line as coupons see it: its amount after line discounts, and whether it is a prescription product."""

    line_no: int
    product_id: int
    sku: str
    category_l1: str
    amount_fen: int
    rx: bool = False


@dataclass(frozen=True)
class AppliedCoupon:
    """One coupon that applies: its discount and how it is shared across lines."""

    code: str
    name: str
    discount: int
    lines: dict[int, int]
    stackable: bool


@dataclass(frozen=True)
class CouponResult:
    """What the codes do to the cart: applied coupons, the discount per line, errors per code."""

    applied: list[AppliedCoupon] = field(default_factory=list)
    per_line: dict[int, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(a.discount for a in self.applied)

    @property
    def codes(self) -> list[str]:
        return [a.code for a in self.applied]


def share(amount: int, weights: dict[int, int]) -> dict[int, int]:
    """Split `amount` across keys in proportion to `weights`, largest remainder first, so the shares sum exactly."""
    total = sum(weights.values())
    if total <= 0 or amount <= 0:
        return {k: 0 for k in weights}
    exact = {k: amount * w for k, w in weights.items()}
    shares = {k: v // total for k, v in exact.items()}
    left = amount - sum(shares.values())
    for k in sorted(weights, key=lambda k: (-(exact[k] % total), k))[:left]:
        shares[k] += 1
    return shares


def _in_scope(t: dict, line: CouponLine) -> bool:
    # A prescription product is never discounted by a coupon (nor counts toward its threshold): Rx drugs may not
    # be promoted to the public (see docs: rules for messages and promotions). A refill reminder's coupon applies to
    # the rest of the basket.
    if line.rx:
        return False
    if t["scope"] == "category":
        return line.category_l1 == t["scope_value"]
    if t["scope"] == "product":
        return line.sku.upper() == (t["scope_value"] or "").upper()
    return True


async def _lookup(codes: list[str]) -> dict[str, dict]:
    if not codes:
        return {}
    return {r["code"]: r for r in await queries.coupons_by_code(codes)}


async def evaluate(codes: list[str], member_id: int | None, lines: list[CouponLine], on_date: date) -> CouponResult:
    """Apply coupon codes to cart lines without writing anything.

    Coupons apply in the order given, each to what earlier ones left of its in-scope lines. The threshold is
    checked on the in-scope amount before coupons; percent off rounds down to the fen; a discount never exceeds
    what is left in scope; at most one non-stackable coupon. Each rejected code gets a message.
    """
    wanted: list[str] = []
    for raw in codes:
        code = normalize_code(raw)
        if code and code not in wanted:
            wanted.append(code)
    found = await _lookup(wanted)
    redeemed_by_member: dict[int, int] = {}
    if member_id is not None and found:
        template_ids = sorted({r["template"] for r in found.values()})
        redeemed_by_member = await queries.redeemed_by_template(member_id, template_ids)
    left = {line.line_no: max(0, line.amount_fen) for line in lines}
    applied: list[AppliedCoupon] = []
    errors: dict[str, str] = {}
    in_cart: dict[int, int] = {}
    exclusive: str | None = None
    for code in wanted:
        c = found.get(code)
        if c is None:
            errors[code] = _("Unknown coupon code %(code)s.") % {"code": code}
            continue
        name = pick(c["name_zh"], c["name_en"] or c["name_zh"])
        if c["status"] == "redeemed":
            errors[code] = _("Coupon %(code)s has already been used.") % {"code": code}
            continue
        if c["status"] != "issued" or not c["active"]:
            errors[code] = _("Coupon %(code)s is no longer valid.") % {"code": code}
            continue
        if c["member"] is not None and c["member"] != member_id:
            errors[code] = (
                _("Coupon %(code)s belongs to another member.") % {"code": code}
                if member_id is not None
                else _("Coupon %(code)s belongs to a member: scan their card first.") % {"code": code}
            )
            continue
        start, end = as_date(c["valid_from"]), as_date(c["valid_to"])
        if start and on_date < start:
            errors[code] = _("Coupon %(code)s is not valid until %(date)s.") % {"code": code, "date": start}
            continue
        if end and on_date > end:
            errors[code] = _("Coupon %(code)s expired on %(date)s.") % {"code": code, "date": end}
            continue
        limit = c["per_member_limit"] or 0
        used = redeemed_by_member.get(c["template"], 0) + in_cart.get(c["template"], 0)
        if limit and member_id is not None and used >= limit:
            errors[code] = _("This member has already used %(n)s coupon(s) of this kind (the limit).") % {"n": used}
            continue
        if not c["stackable"] and exclusive is not None:
            errors[code] = _("Coupon %(code)s cannot be combined with %(other)s.") % {"code": code, "other": exclusive}
            continue
        scoped = [line for line in lines if _in_scope(c, line)]
        if not scoped:
            errors[code] = _("Coupon %(code)s does not apply to anything in the cart.") % {"code": code}
            continue
        in_scope = sum(max(0, line.amount_fen) for line in scoped)
        if c["threshold"] and in_scope < c["threshold"]:
            errors[code] = _("Coupon %(code)s needs %(need)s of eligible items; the cart has %(has)s.") % {
                "code": code,
                "need": yuan(c["threshold"]),
                "has": yuan(in_scope),
            }
            continue
        remaining = {line.line_no: left[line.line_no] for line in scoped}
        base = sum(remaining.values())
        discount = c["value"] if c["kind"] == "amount" else base * c["value"] // 100
        discount = min(discount, base)
        if discount <= 0:
            errors[code] = _("Coupon %(code)s leaves nothing to discount.") % {"code": code}
            continue
        split = share(discount, remaining)
        for line_no, part in split.items():
            left[line_no] -= part
        applied.append(AppliedCoupon(code, name, discount, {k: v for k, v in split.items() if v}, bool(c["stackable"])))
        in_cart[c["template"]] = in_cart.get(c["template"], 0) + 1
        if not c["stackable"]:
            exclusive = code
    per_line = {line.line_no: max(0, line.amount_fen) - left[line.line_no] for line in lines}
    return CouponResult(applied=applied, per_line={k: v for k, v in per_line.items() if v}, errors=errors)
