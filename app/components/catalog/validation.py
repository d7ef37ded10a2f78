"""Product input as a form, a CSV row or the API gives it, validated field by field: SKU, names, ATC code, allergen
classes, Rx class, categories, price (fen, or yuan from forms), pack and daily use, flags, drug facts, and codes —
GTINs with their check digit, 7-digit traceability prefixes, aliases."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from app.components.allergies import allergen_classes
from app.components.catalog.categories import CATEGORIES_L1, CATEGORIES_L2, RX_CLASSES, choice
from app.components.catalog.knowledge import KNOWLEDGE_FIELDS
from app.components.catalog.products import ATC_RE, SKU_RE, TRACE_PREFIX_RE
from app.components.core.errors import ValidationFailed
from app.components.scanning import TRACEABILITY_PRODUCT_DIGITS, has_valid_check_digit
from app.i18n import _, join_list

_TRUE = ("1", "true", "yes", "y", "on", "是")
_FALSE = ("0", "false", "no", "n", "off", "否", "")
_MAX_PRICE = 100_000_000  # ¥1,000,000: anything above is a typo
_LENGTHS = {
    "name_zh": 100,
    "name_en": 100,
    "generic_zh": 100,
    "generic_en": 100,
    "substance": 60,
    "form": 20,
}


@dataclass
class ProductInput:
    """A product to create or update, as a form, a CSV row or the API gives it (values may be strings).

    None means "not given": kept on update, the default on create. `sku`, `name_zh`, `rx_class`, `category_l1`
    and `price` are required to create. Code lists (`gtins`, `trace_prefixes`, `aliases`; space-separated or
    lists) replace that kind of code of the product when given. `price` is in fen; `price_yuan` (forms) wins
    when given.
    """

    sku: str = ""
    name_zh: str | None = None
    name_en: str | None = None
    generic_zh: str | None = None
    generic_en: str | None = None
    atc: str | None = None
    allergen_classes: str | list[str] | None = None
    substance: str | None = None
    rx_class: str | None = None
    category_l1: str | None = None
    category_l2: str | None = None
    form: str | None = None
    price: int | str | None = None
    price_yuan: str | None = None
    pack_units: int | str | None = None
    units_per_day: float | int | str | None = None
    cold_chain: bool | str | None = None
    dtp: bool | str | None = None
    points_excluded: bool | str | None = None
    active: bool | str | None = None
    gtins: str | list[str] | None = None
    trace_prefixes: str | list[str] | None = None
    aliases: str | list[str] | None = None
    knowledge: dict | None = None


def _words(value: str | list[str]) -> list[str]:
    items = value if isinstance(value, list) else re.split(r"[\s,;，；]+", str(value))
    return list(dict.fromkeys(str(v).strip() for v in items if str(v).strip()))


def _as_bool(value: bool | str) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _validate(data: ProductInput) -> tuple[str, dict[str, Any], dict[str, list[str]], dict[str, str]]:
    """(sku, column values given, code lists given by kind, errors by field)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    sku = (data.sku or "").strip().upper()
    if not SKU_RE.fullmatch(sku):
        errors["sku"] = _(
            "The SKU is 2 to 24 capital letters, digits, dots, dashes or underscores, starting with a letter"
            " (for example YS00001)."
        )
    for name, limit in _LENGTHS.items():
        value = getattr(data, name)
        if value is None:
            continue
        value = str(value).strip()
        if len(value) > limit:
            errors[name] = _("At most %(n)s characters.") % {"n": limit}
        values[name] = value
    if "name_zh" in values and not values["name_zh"]:
        errors["name_zh"] = _("Enter the product's Chinese name.")
    if data.atc is not None:
        atc = data.atc.strip().upper()
        if atc and not ATC_RE.fullmatch(atc):
            errors["atc"] = _("An ATC code looks like J01CA04 (or a group such as A12AX); leave it empty if none.")
        values["atc"] = atc
    if data.allergen_classes is not None:
        classes = _words(data.allergen_classes)
        unknown = [c for c in classes if c not in allergen_classes()]
        if unknown:
            errors["allergen_classes"] = _("Unknown allergen class: %(codes)s.") % {"codes": join_list(unknown)}
        values["allergen_classes"] = " ".join(classes)
    if data.substance is not None:
        values["substance"] = str(data.substance).strip().lower()
    if data.rx_class is not None:
        found = {c.lower(): c for c in RX_CLASSES}.get(str(data.rx_class).strip().lower())
        if found is None:
            errors["rx_class"] = _("Choose Rx, OTC or device.")
        values["rx_class"] = found
    for name, choices in (("category_l1", CATEGORIES_L1), ("category_l2", CATEGORIES_L2)):
        value = getattr(data, name)
        if value is None:
            continue
        code = choice(str(value), choices) if str(value).strip() else ""
        if code is None or (name == "category_l1" and not code):
            errors[name] = _("Choose one of: %(choices)s.") % {"choices": join_list(choices)}
        values[name] = code
    price: Any = data.price
    price_field = "price"
    if data.price_yuan is not None and str(data.price_yuan).strip():
        price_field = "price_yuan"
        text = str(data.price_yuan).strip().lstrip("¥￥")
        if re.fullmatch(r"\d{1,7}(\.\d{1,2})?", text):
            whole, _dot, cents = text.partition(".")
            price = int(whole) * 100 + int((cents + "00")[:2])
        else:
            price = "bad"
    if price is not None:
        try:
            fen = int(str(price).strip()) if not isinstance(price, int) else price
        except ValueError:
            fen = -1
        if isinstance(price, bool) or not 0 <= fen <= _MAX_PRICE:
            errors[price_field] = (
                _("Enter the price in yuan, for example 12.50.")
                if price_field == "price_yuan"
                else _("The price is a whole number of fen, 0 or more.")
            )
        values["price"] = fen
    if data.pack_units is not None:
        try:
            units = int(str(data.pack_units).strip())
        except ValueError:
            units = 0
        if not 1 <= units <= 100_000:
            errors["pack_units"] = _("Units per pack is a whole number, at least 1.")
        values["pack_units"] = units
    if data.units_per_day is not None:
        text = str(data.units_per_day).strip()
        try:
            per_day = float(text) if text else 0.0
        except ValueError:
            per_day = -1.0
        if not 0 <= per_day <= 1000 or per_day != per_day:
            errors["units_per_day"] = _("Units per day is a number, 0 or more (0 when use is not daily).")
        values["units_per_day"] = per_day
    for name in ("cold_chain", "dtp", "points_excluded", "active"):
        value = getattr(data, name)
        if value is None:
            continue
        flag = _as_bool(value)
        if flag is None:
            errors[name] = _("Answer yes or no.")
        values[name] = flag
    if data.knowledge is not None:
        bad = [k for k in data.knowledge if k not in KNOWLEDGE_FIELDS]
        if bad or not all(isinstance(v, (str, dict)) for v in data.knowledge.values()):
            errors["knowledge"] = _("Knowledge texts are indications, usage, contraindications and counselling.")
        values["knowledge"] = json.dumps(data.knowledge, ensure_ascii=False)
    codes: dict[str, list[str]] = {}
    if data.gtins is not None:
        gtins = []
        for code in _words(data.gtins):
            if not (code.isdigit() and len(code) in (8, 12, 13, 14) and has_valid_check_digit(code)):
                errors["gtins"] = _("%(code)s is not a valid GTIN/EAN (8, 12, 13 or 14 digits, check digit).") % {
                    "code": code
                }
            gtins.append(code.zfill(14))
        codes["gtin"] = list(dict.fromkeys(gtins))
    if data.trace_prefixes is not None:
        prefixes = _words(data.trace_prefixes)
        bad_prefixes = [p for p in prefixes if not TRACE_PREFIX_RE.fullmatch(p)]
        if bad_prefixes:
            errors["trace_prefixes"] = _("A traceability product prefix is the first %(n)s digits of the code.") % {
                "n": TRACEABILITY_PRODUCT_DIGITS
            }
        codes["trace"] = prefixes
    if data.aliases is not None:
        aliases = _words(data.aliases)
        if any(len(a) > 32 for a in aliases):
            errors["aliases"] = _("An alias has at most 32 characters.")
        codes["alias"] = aliases
    return sku, values, codes, errors


def validate_input(data: ProductInput) -> tuple[str, dict[str, Any], dict[str, list[str]]]:
    """(sku, column values given, codes given by kind) of valid input; ValidationFailed names each bad field."""
    sku, values, codes, errors = _validate(data)
    if errors:
        raise ValidationFailed(errors)
    return sku, values, codes
