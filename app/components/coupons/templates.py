"""Coupon templates, defined by HQ: amount or percent off, a threshold, a scope (everything, a catalog category or
one product), a validity window or a number of days from issue, a per-member limit, stacking and whether a
return gives the coupon back."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from app.components import audit, catalog
from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.components.coupons import queries
from app.db import as_date, transaction
from app.i18n import _, pick

KINDS = ("amount", "percent")
SCOPES = ("all", "category", "product")
TEMPLATE_CREATE = "coupon.template_create"


def yuan(fen: int) -> str:
    """Fen as ¥yuan.fen."""
    return f"¥{fen // 100}.{fen % 100:02d}"


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
            _("%(amount)s off") % {"amount": yuan(self.value)}
            if self.kind == "amount"
            else _("%(pct)s%% off") % {"pct": self.value}
        )
        if self.threshold:
            return _("%(off)s over %(threshold)s") % {"off": off, "threshold": yuan(self.threshold)}
        return off

    @property
    def scope_text(self) -> str:
        if self.scope == "category":
            return _("category %(c)s") % {"c": catalog.category_l1_label(self.scope_value)}
        if self.scope == "product":
            return _("product %(sku)s") % {"sku": self.scope_value}
        return _("all products")


def template_view(row: dict) -> TemplateView:
    """A row with `queries.TEMPLATE_COLUMNS` (and perhaps issued, redeemed) as a view."""
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
        valid_from=as_date(row["valid_from"]),
        valid_to=as_date(row["valid_to"]),
        valid_days=row["valid_days"],
        per_member_limit=row["per_member_limit"] or 0,
        stackable=bool(row["stackable"]),
        restore_on_return=bool(row["restore_on_return"]),
        active=bool(row["active"]),
        issued=int(row.get("issued") or 0),
        redeemed=int(row.get("redeemed") or 0),
    )


async def templates() -> list[TemplateView]:
    """Every template, newest first, with how many coupons were issued and redeemed."""
    return [template_view(r) for r in await queries.template_rows()]


async def get_template(code: str) -> TemplateView:
    """One template by code, or NotFound."""
    row = await queries.template_row(code.strip().upper())
    if row is None:
        raise NotFound(_("No coupon template with code %(code)s.") % {"code": code})
    return template_view(row)


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
        try:
            await catalog.get_product(scope_value.upper())
        except NotFound:
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
        if await queries.template_exists(code):
            errors["code"] = _("A template with code %(code)s already exists.") % {"code": code}
    if errors:
        raise ValidationFailed(errors)
    async with transaction():
        await queries.insert_template(
            (
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
        )
        await audit.record(actor, TEMPLATE_CREATE, None, code)
    return await get_template(code)
