"""Coupons: templates, issuing to members or as printed codes, evaluating a cart, redeeming at most once."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from app.components import audit, catalog
from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.core.errors import NotFound, ValidationFailed
from app.db import fetch, is_sqlite, marks, transaction
from app.i18n import _, pick

# No 0/O, 1/I/L: a code read aloud or typed from paper is not mistaken. 32 symbols × 12 = 60 bits.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12
KINDS = ("amount", "percent")
SCOPES = ("all", "category", "product")
SOURCES = ("journey", "campaign", "birthday", "printed", "manual")
TEMPLATE_CREATE = "coupon.template_create"
COUPON_ISSUE = "coupon.issue"
COUPON_PRINT = "coupon.print"
MAX_PRINT = 500


def new_code() -> str:
    """An unguessable coupon code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(raw: str) -> str:
    """Upper-case, without spaces or dashes (as printed codes may be typed)."""
    return re.sub(r"[\s\-]", "", raw or "").upper()


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


# ---------------------------------------------------------------- templates


@dataclass(frozen=True)
class TemplateView:
    """A coupon template as pages and the wallet show it."""

    id: int
    code: str
    name_zh: str
    name_en: str
    kind: str
    value: int
    threshold: int
    scope: str
    scope_value: str
    valid_from: date | None
    valid_to: date | None
    valid_days: int | None
    per_member_limit: int
    stackable: bool
    restore_on_return: bool
    active: bool
    issued: int = 0
    redeemed: int = 0

    @property
    def name(self) -> str:
        return pick(self.name_zh, self.name_en or self.name_zh)

    @property
    def benefit(self) -> str:
        """'¥10 off' / '15% off', with the threshold."""
        off = (
            _("%(amount)s off") % {"amount": _yuan(self.value)}
            if self.kind == "amount"
            else _("%(pct)s%% off") % {"pct": self.value}
        )
        if self.threshold:
            return _("%(off)s over %(threshold)s") % {"off": off, "threshold": _yuan(self.threshold)}
        return off

    @property
    def scope_text(self) -> str:
        if self.scope == "category":
            return _("category %(c)s") % {"c": catalog.category_l1_label(self.scope_value)}
        if self.scope == "product":
            return _("product %(sku)s") % {"sku": self.scope_value}
        return _("all products")


def _template(row: dict) -> TemplateView:
    return TemplateView(
        id=row["id"],
        code=row["code"],
        name_zh=row["name_zh"],
        name_en=row["name_en"] or "",
        kind=row["kind"],
        value=row["value"],
        threshold=row["threshold"] or 0,
        scope=row["scope"],
        scope_value=row["scope_value"] or "",
        valid_from=_as_date(row["valid_from"]),
        valid_to=_as_date(row["valid_to"]),
        valid_days=row["valid_days"],
        per_member_limit=row["per_member_limit"] or 0,
        stackable=bool(row["stackable"]),
        restore_on_return=bool(row["restore_on_return"]),
        active=bool(row["active"]),
        issued=int(row.get("issued") or 0),
        redeemed=int(row.get("redeemed") or 0),
    )


_TEMPLATE_COLS = (
    "t.id, t.code, t.name_zh, t.name_en, t.kind, t.value, t.threshold, t.scope, t.scope_value, t.valid_from,"
    " t.valid_to, t.valid_days, t.per_member_limit, t.stackable, t.restore_on_return, t.active"
)


async def templates() -> list[TemplateView]:
    """Every template, newest first, with how many coupons were issued and redeemed."""
    rows = await fetch(
        f"SELECT {_TEMPLATE_COLS}, COUNT(c.id) AS issued,"
        " SUM(CASE WHEN c.status = 'redeemed' THEN 1 ELSE 0 END) AS redeemed"
        " FROM coupon_template t LEFT JOIN coupon c ON c.template = t.id"
        f" GROUP BY {_TEMPLATE_COLS} ORDER BY t.id DESC"
    )
    return [_template(r) for r in rows]


async def get_template(code: str) -> TemplateView:
    """One template by code, or NotFound."""
    rows = await fetch(f"SELECT {_TEMPLATE_COLS} FROM coupon_template t WHERE t.code = {{}}", code.strip().upper())
    if not rows:
        raise NotFound(_("No coupon template with code %(code)s.") % {"code": code})
    return _template(rows[0])


@dataclass
class NewTemplate:
    """The create form, every field as typed (money in yuan)."""

    code: str = ""
    name_zh: str = ""
    name_en: str = ""
    kind: str = "amount"
    value: str = ""
    threshold: str = ""
    scope: str = "all"
    scope_value: str = ""
    valid_from: str = ""
    valid_to: str = ""
    valid_days: str = ""
    per_member_limit: str = "1"
    stackable: str = ""
    restore_on_return: str = "1"


def _fen(text: str) -> int | None:
    cleaned = (text or "").strip().lstrip("¥").replace(",", "")
    if not re.fullmatch(r"\d+(\.\d{1,2})?", cleaned):
        return None
    whole, _dot, frac = cleaned.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def _checked(value: str) -> bool:
    return (value or "").strip().lower() in ("1", "on", "true", "yes")


async def create_template(form: NewTemplate, actor: StaffUser) -> TemplateView:
    """Validate and store a template (audited); ValidationFailed with one message per bad field."""
    errors: dict[str, str] = {}
    code = (form.code or "").strip().upper()
    if not re.fullmatch(r"[A-Z0-9][A-Z0-9_-]{1,23}", code):
        errors["code"] = _("Use 2–24 letters, digits, - or _.")
    name_zh = (form.name_zh or "").strip()
    if not name_zh or len(name_zh) > 60:
        errors["name_zh"] = _("Enter a Chinese name of at most 60 characters.")
    name_en = (form.name_en or "").strip()[:60]
    kind = form.kind if form.kind in KINDS else ""
    if not kind:
        errors["kind"] = _("Choose amount off or percent off.")
    value = 0
    if kind == "amount":
        fen = _fen(form.value)
        if not fen:
            errors["value"] = _("Enter the amount off in yuan, e.g. 10 or 9.90.")
        value = fen or 0
    elif kind == "percent":
        text = (form.value or "").strip().rstrip("%")
        if not text.isdigit() or not 1 <= int(text) <= 99:
            errors["value"] = _("Enter the percent off as a whole number from 1 to 99.")
        else:
            value = int(text)
    threshold = _fen(form.threshold) if (form.threshold or "").strip() else 0
    if threshold is None:
        errors["threshold"] = _("Enter the minimum spend in yuan, or leave it empty.")
    scope = form.scope if form.scope in SCOPES else ""
    scope_value = (form.scope_value or "").strip()
    if not scope:
        errors["scope"] = _("Choose what the coupon applies to.")
    elif scope == "product":
        found = await fetch("SELECT id FROM product WHERE sku = {}", scope_value.upper())
        if not found:
            errors["scope_value"] = _("No product with SKU %(sku)s.") % {"sku": scope_value or "—"}
        scope_value = scope_value.upper()
    elif scope == "category":
        # The catalog's level-1 categories (a cart line matches on the code, so a typo would never apply).
        category = catalog.category_l1_code(scope_value) if scope_value else None
        if category is None:
            errors["scope_value"] = _("Choose one of the catalog's categories: %(choices)s.") % {
                "choices": "、".join(catalog.category_l1_label(c) for c in catalog.CATEGORIES_L1)
            }
        scope_value = category or scope_value
    elif scope == "all":
        scope_value = ""
    dates: dict[str, date | None] = {}
    for name in ("valid_from", "valid_to"):
        text = (getattr(form, name) or "").strip()
        try:
            dates[name] = date.fromisoformat(text) if text else None
        except ValueError:
            errors[name] = _("Enter the date as YYYY-MM-DD.")
            dates[name] = None
    if dates["valid_from"] and dates["valid_to"] and dates["valid_from"] > dates["valid_to"]:
        errors["valid_to"] = _("The end date must not be before the start date.")
    valid_days: int | None = None
    if (form.valid_days or "").strip():
        text = form.valid_days.strip()
        if not text.isdigit() or not 1 <= int(text) <= 3650:
            errors["valid_days"] = _("Enter the number of days from issue (1 to 3650), or leave it empty.")
        else:
            valid_days = int(text)
    limit_text = (form.per_member_limit or "").strip() or "0"
    if not limit_text.isdigit() or int(limit_text) > 1000:
        errors["per_member_limit"] = _("Enter a whole number (0 means no limit).")
    if not errors:
        taken = await fetch("SELECT id FROM coupon_template WHERE code = {}", code)
        if taken:
            errors["code"] = _("A template with code %(code)s already exists.") % {"code": code}
    if errors:
        raise ValidationFailed(errors)
    async with transaction():
        await fetch(
            "INSERT INTO coupon_template (code, name_zh, name_en, kind, value, threshold, scope, scope_value,"
            " valid_from, valid_to, valid_days, per_member_limit, stackable, restore_on_return, active, created_at)"
            " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            code,
            name_zh,
            name_en,
            kind,
            value,
            threshold,
            scope,
            scope_value,
            dates["valid_from"],
            dates["valid_to"],
            valid_days,
            int(limit_text),
            _checked(form.stackable),
            _checked(form.restore_on_return),
            True,
            datetime.now(UTC),
        )
        await audit.record(actor, TEMPLATE_CREATE, None, code)
    return await get_template(code)


# ---------------------------------------------------------------- issuing


def _validity(t: TemplateView, today: date) -> tuple[date | None, date | None]:
    """A new coupon's window: `valid_days` from today (within the template's window), else the template's window."""
    if t.valid_days:
        start = max(today, t.valid_from) if t.valid_from else today
        end = start + timedelta(days=t.valid_days - 1)
        return start, min(end, t.valid_to) if t.valid_to else end
    return t.valid_from, t.valid_to


@dataclass(frozen=True)
class Issued:
    """A coupon as issued."""

    code: str
    valid_from: date | None
    valid_to: date | None


async def _check_member_store(member_id: int, actor: StaffUser | None) -> None:
    """A store's staff issue only to their own store's members (HQ and the worker to anyone). Another store's
    member is "not found" for them, as everywhere else a store sees only its own members."""
    if actor is None or actor.store_id is None:
        return
    rows = await fetch("SELECT member_no, home_store FROM member WHERE id = {}", member_id)
    if not rows or rows[0]["home_store"] != actor.store_id:
        raise ValidationFailed(
            {"member_no": _("No member %(no)s in your store.") % {"no": rows[0]["member_no"] if rows else member_id}}
        )


async def issue(
    template_code: str, member_id: int, source: str, source_key: str | None, actor: StaffUser | None
) -> Issued:
    """Give a member a coupon. Idempotent by `source_key` (the same journey step or campaign never issues twice);
    ValidationFailed when the template is inactive, the member holds its per-member limit, or the member belongs
    to another store than the issuing store staff's own."""

    t = await get_template(template_code)
    await _check_member_store(member_id, actor)
    if source_key:
        found = await fetch("SELECT code, valid_from, valid_to FROM coupon WHERE source_key = {}", source_key)
        if found:
            return Issued(found[0]["code"], _as_date(found[0]["valid_from"]), _as_date(found[0]["valid_to"]))
    if not t.active:
        raise ValidationFailed({"template": _("Coupon template %(code)s is no longer active.") % {"code": t.code}})
    today = store_today()
    start, end = _validity(t, today)
    async with transaction():
        if t.per_member_limit:
            # Serialise issues to one member (PostgreSQL row lock; SQLite's IMMEDIATE transaction already does).
            await fetch(f"SELECT id FROM member WHERE id = {{}}{'' if is_sqlite() else ' FOR UPDATE'}", member_id)
            held = await fetch(
                "SELECT COUNT(*) AS n FROM coupon WHERE template = {} AND member = {} AND status <> 'void'",
                t.id,
                member_id,
            )
            if held[0]["n"] >= t.per_member_limit:
                raise ValidationFailed(
                    {"member_no": _("This member already has %(n)s of this coupon (the limit).") % {"n": held[0]["n"]}}
                )
        code = new_code()
        rows = await fetch(
            "INSERT INTO coupon (code, template, member, status, source, source_key, valid_from, valid_to, issued_at)"
            " VALUES ({}, {}, {}, 'issued', {}, {}, {}, {}, {}) ON CONFLICT (source_key) DO NOTHING RETURNING code",
            code,
            t.id,
            member_id,
            source if source in SOURCES else "manual",
            source_key,
            start,
            end,
            datetime.now(UTC),
        )
        if not rows:  # a concurrent call with the same key won
            found = await fetch("SELECT code, valid_from, valid_to FROM coupon WHERE source_key = {}", source_key)
            return Issued(found[0]["code"], _as_date(found[0]["valid_from"]), _as_date(found[0]["valid_to"]))
        if actor is not None:
            await audit.record(actor, COUPON_ISSUE, member_id, f"{t.code} {code}")
    return Issued(code, start, end)


async def print_codes(template_code: str, count: int, actor: StaffUser, batch_key: str = "") -> list[Issued]:
    """`count` printed (bearer) codes of a template. With `batch_key`, posting the same batch again returns the
    same codes instead of printing more."""

    if not 1 <= count <= MAX_PRINT:
        raise ValidationFailed({"count": _("Print between 1 and %(n)s codes.") % {"n": MAX_PRINT}})
    t = await get_template(template_code)
    if not t.active:
        raise ValidationFailed({"count": _("Coupon template %(code)s is no longer active.") % {"code": t.code}})
    start, end = _validity(t, store_today())
    now = datetime.now(UTC)
    out: list[Issued] = []
    async with transaction():
        for i in range(count):
            key = f"print:{batch_key}:{i}" if batch_key else None
            rows = await fetch(
                "INSERT INTO coupon (code, template, member, status, source, source_key, valid_from, valid_to,"
                " issued_at) VALUES ({}, {}, NULL, 'issued', 'printed', {}, {}, {}, {})"
                " ON CONFLICT (source_key) DO NOTHING RETURNING code, valid_from, valid_to",
                new_code(),
                t.id,
                key,
                start,
                end,
                now,
            )
            if not rows:
                rows = await fetch("SELECT code, valid_from, valid_to FROM coupon WHERE source_key = {}", key)
            out.append(Issued(rows[0]["code"], _as_date(rows[0]["valid_from"]), _as_date(rows[0]["valid_to"])))
        await audit.record(actor, COUPON_PRINT, None, f"{t.code} ×{count}")
    return out


# ---------------------------------------------------------------- the cart


@dataclass(frozen=True)
class CouponLine:
    """A cart line as coupons see it: its amount after line discounts."""

    line_no: int
    product_id: int
    sku: str
    category_l1: str
    amount_fen: int


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
    if t["scope"] == "category":
        return line.category_l1 == t["scope_value"]
    if t["scope"] == "product":
        return line.sku.upper() == (t["scope_value"] or "").upper()
    return True


async def _lookup(codes: list[str]) -> dict[str, dict]:
    if not codes:
        return {}
    in_list = marks(codes)
    rows = await fetch(
        "SELECT c.id, c.code, c.member, c.status, c.valid_from, c.valid_to, c.template, t.code AS template_code,"
        " t.name_zh, t.name_en, t.kind, t.value, t.threshold, t.scope, t.scope_value, t.per_member_limit,"
        " t.stackable, t.active FROM coupon c JOIN coupon_template t ON t.id = c.template"
        f" WHERE c.code IN ({in_list})",
        *codes,
    )
    return {r["code"]: r for r in rows}


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
        in_list = marks(template_ids)
        rows = await fetch(
            "SELECT template, COUNT(*) AS n FROM coupon WHERE member = {} AND status = 'redeemed'"
            f" AND template IN ({in_list}) GROUP BY template",
            member_id,
            *template_ids,
        )
        redeemed_by_member = {r["template"]: int(r["n"]) for r in rows}
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
        start, end = _as_date(c["valid_from"]), _as_date(c["valid_to"])
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
                "need": _yuan(c["threshold"]),
                "has": _yuan(in_scope),
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


async def redeem_coupons(codes: list[str], member_id: int | None, sale_id: int, actor: StaffUser | None) -> None:
    """(in txn) Mark the coupons redeemed by this sale. The update is conditional on status 'issued', so a code
    already used — also by a concurrent sale — raises ValidationFailed (field "coupon") and the sale rolls back.
    A retry of the same sale is a no-op."""
    now = datetime.now(UTC)
    for raw in codes:
        code = normalize_code(raw)
        rows = await fetch(
            "UPDATE coupon SET status = 'redeemed', sale = {}, redeemed_at = {}, member = COALESCE(member, {})"
            " WHERE code = {} AND status = 'issued' AND (member IS NULL OR member = {}) RETURNING id",
            sale_id,
            now,
            member_id,
            code,
            member_id,
        )
        if rows:
            continue
        mine = await fetch("SELECT id FROM coupon WHERE code = {} AND sale = {}", code, sale_id)
        if not mine:
            raise ValidationFailed({"coupon": _("Coupon %(code)s has already been used.") % {"code": code}})


async def restore_coupons(sale_id: int, actor: StaffUser | None) -> list[str]:
    """(in txn) Make the coupons a returned sale used valid again, where their template says so; their codes."""
    rows = await fetch(
        "UPDATE coupon SET status = 'issued', sale = NULL, redeemed_at = NULL"
        " WHERE sale = {} AND status = 'redeemed'"
        " AND template IN (SELECT id FROM coupon_template WHERE restore_on_return = {}) RETURNING code",
        sale_id,
        True,
    )
    return sorted(r["code"] for r in rows)


@dataclass(frozen=True)
class WalletCoupon:
    """A coupon the member can use today."""

    code: str
    name: str
    benefit: str
    scope: str
    valid_to: date | None
    stackable: bool


async def wallet(member_id: int, on_date: date) -> list[WalletCoupon]:
    """The member's usable coupons, soonest to expire first."""
    rows = await fetch(
        f"SELECT c.code AS coupon_code, c.valid_to AS c_valid_to, {_TEMPLATE_COLS} FROM coupon c"
        " JOIN coupon_template t ON t.id = c.template"
        " WHERE c.member = {} AND c.status = 'issued' AND t.active = {}"
        " AND (c.valid_from IS NULL OR c.valid_from <= {}) AND (c.valid_to IS NULL OR c.valid_to >= {})"
        " ORDER BY c.valid_to IS NULL, c.valid_to, c.id",
        member_id,
        True,
        on_date,
        on_date,
    )
    out = []
    for r in rows:
        t = _template(r)
        out.append(
            WalletCoupon(r["coupon_code"], t.name, t.benefit, t.scope_text, _as_date(r["c_valid_to"]), t.stackable)
        )
    return out


# ---------------------------------------------------------------- demo data

DEMO_TEMPLATES = [
    # code, name_zh, name_en, kind, value (fen or percent), threshold (fen), scope, scope_value, stackable
    ("NEW10", "新会员满50减10", "¥10 off ¥50 (new members)", "amount", 1000, 5000, "all", "", False),
    ("COLD15", "感冒药85折", "15% off cold medicines", "percent", 15, 0, "category", "感冒/流感", False),
    ("VIT5", "维矿物质立减5元", "¥5 off vitamins and minerals", "amount", 500, 0, "category", "维矿物质", True),
]


async def seed_demo_coupons() -> int:
    """The demo coupon templates (idempotent); returns how many templates exist afterwards."""
    now = datetime.now(UTC)
    for code, zh, en, kind, value, threshold, scope, scope_value, stackable in DEMO_TEMPLATES:
        await fetch(
            "INSERT INTO coupon_template (code, name_zh, name_en, kind, value, threshold, scope, scope_value,"
            " valid_days, per_member_limit, stackable, restore_on_return, active, created_at)"
            " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) ON CONFLICT (code) DO NOTHING",
            code,
            zh,
            en,
            kind,
            value,
            threshold,
            scope,
            scope_value,
            90,
            1,
            stackable,
            True,
            True,
            now,
        )
    rows = await fetch("SELECT COUNT(*) AS n FROM coupon_template")
    return int(rows[0]["n"])
