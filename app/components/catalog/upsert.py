"""Creating and updating products: a new product needs its essentials, an update writes only what changed, a code
names one product only (also against a concurrent writer), and every change is audited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.components import audit
from app.components.catalog import queries
from app.components.catalog.categories import CATEGORIES_L1
from app.components.catalog.lookup import get_product
from app.components.catalog.products import ProductView, knowledge_texts
from app.components.catalog.validation import ProductInput, validate_input
from app.components.core.actor import StaffUser
from app.components.core.errors import ValidationFailed
from app.db import transaction
from app.i18n import _, join_list

PRODUCT_UPSERT = "product.upsert"


_REQUIRED = {
    "name_zh": lambda: _("Enter the product's Chinese name."),
    "rx_class": lambda: _("Choose Rx, OTC or device."),
    "category_l1": lambda: _("Choose one of: %(choices)s.") % {"choices": join_list(CATEGORIES_L1)},
    "price": lambda: _("The price is a whole number of fen, 0 or more."),
}


_CODE_FIELD = {"gtin": "gtins", "trace": "trace_prefixes", "alias": "aliases"}


def _same_value(name: str, old: Any, new: Any) -> bool:
    if name == "knowledge":
        return knowledge_texts(old) == knowledge_texts(new)
    if name in ("cold_chain", "dtp", "points_excluded", "active"):
        return bool(old) == bool(new)
    if name == "units_per_day":
        return abs(float(old or 0) - float(new or 0)) < 1e-9
    return (old if old is not None else "") == new


async def _check_codes(sku: str, codes: dict[str, list[str]]) -> None:
    """A code may name one product only: refuse codes that another product holds."""
    wanted = [c for kind in codes for c in codes[kind]]
    if not wanted:
        return
    rows = await queries.code_owners(wanted, sku)
    if rows:
        kind = next(k for k in codes if rows[0]["code"] in codes[k])
        message = _("%(code)s already belongs to %(sku)s.") % {"code": rows[0]["code"], "sku": rows[0]["sku"]}
        raise ValidationFailed({_CODE_FIELD[kind]: message})


async def _save_codes(product_id: int, codes: dict[str, list[str]]) -> bool:
    """Make the product's codes of each given kind exactly the given ones; True when anything changed."""
    current = await queries.codes_of(product_id)
    have = {(r["kind"], r["code"]) for r in current}
    want = {(kind, code) for kind, kind_codes in codes.items() for code in kind_codes}
    stale = [(k, c) for k, c in have if k in codes and (k, c) not in want]
    missing = [(k, c) for k, c in want if (k, c) not in have]
    for kind, code in stale:
        await queries.delete_code(product_id, kind, code)
    for kind, code in missing:
        # A code may move between kinds of the same product (an alias that is really a GTIN); another
        # product's code is left alone here and reported below.
        await queries.add_code(product_id, kind, code)
    if missing:
        # Another product may have taken a code between the check and the insert (concurrent writers).
        taken = await queries.codes_taken([c for _k, c in missing], product_id)
        if taken:
            raise ValidationFailed({"gtins": _("%(code)s already belongs to another product.") % taken[0]})
    return bool(stale or missing)


async def apply_product(
    sku: str, values: dict[str, Any], codes: dict[str, list[str]], create_only: bool = False, price_field: str = "price"
) -> str:
    """Write one validated product (see `validate_input`) inside the caller's transaction; no audit.

    Returns "created", "updated" or "unchanged"; raises ValidationFailed before writing anything when required
    fields of a new product are missing or a code belongs to another product.
    """
    current = await queries.compared_row(sku)
    if current is not None and create_only:
        raise ValidationFailed({"sku": _("A product with the SKU %(sku)s exists already.") % {"sku": sku}})
    if current is None:
        missing = {k: message() for k, message in _REQUIRED.items() if values.get(k) in (None, "")}
        if "price" in missing and price_field != "price":
            missing[price_field] = _("Enter the price in yuan, for example 12.50.")
            del missing["price"]
        if missing:
            raise ValidationFailed(missing)
    await _check_codes(sku, codes)
    now = datetime.now(UTC)
    if current is None:
        row = {
            "sku": sku,
            **values,
            "substance": values.get("substance") or (values.get("generic_en") or "").lower(),
            "created_at": now,
            "updated_at": now,
        }
        inserted = await queries.insert_product(row)
        if inserted is not None:
            await _save_codes(inserted, codes)
            return "created"
        if create_only:
            raise ValidationFailed({"sku": _("A product with the SKU %(sku)s exists already.") % {"sku": sku}})
        # Created by a concurrent writer since the read: update it instead.
        current = await queries.compared_row(sku)
        assert current is not None
    changed = {k: v for k, v in values.items() if not _same_value(k, current[k], v)}
    if changed:
        await queries.update_product(current["id"], changed, now)
    codes_changed = await _save_codes(current["id"], codes)
    return "updated" if changed or codes_changed else "unchanged"


async def upsert_product(data: ProductInput, actor: StaffUser, create_only: bool = False) -> tuple[ProductView, bool]:
    """Create the product with `data.sku`, or update the fields given; audited. Returns (product, created).
    With `create_only` an existing SKU is a validation error (the "new product" form).

    Raises ValidationFailed with one message per field; nothing is written then.
    """
    sku, values, codes = validate_input(data)
    price_field = "price_yuan" if data.price_yuan is not None else "price"
    async with transaction():
        outcome = await apply_product(sku, values, codes, create_only, price_field)
        if outcome != "unchanged":
            fields = " ".join(sorted(set(values) | {f"codes:{k}" for k in codes}))
            await audit.record(actor, PRODUCT_UPSERT, None, f"{sku} {outcome}: {fields}")
    return await get_product(sku), outcome == "created"
