"""A product as every surface sees it (names in the current language, its codes by kind, days one pack lasts),
and the shapes its codes and identifiers take: SKU, ATC code, GTIN, 7-digit traceability prefix, alias."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.components.catalog.categories import category_l1_label, category_l2_label, form_label
from app.components.scanning import TRACEABILITY_PRODUCT_DIGITS, has_valid_check_digit
from app.i18n import pick

CODE_KINDS = ("gtin", "trace", "alias")
SKU_RE = re.compile(r"[A-Z][A-Z0-9_.\-]{1,23}")
# WHO ATC: level 1 (A) to level 5 (A10BA02); a product may carry a level-4 group when no substance code fits.
ATC_RE = re.compile(r"[A-Z](\d\d([A-Z]([A-Z](\d\d)?)?)?)?")
TRACE_PREFIX_RE = re.compile(rf"\d{{{TRACEABILITY_PRODUCT_DIGITS}}}")
_KIND_ORDER = {kind: i for i, kind in enumerate(CODE_KINDS)}
# A product's codes as "kind␟code␞kind␟code…" (ASCII unit and record separators: never part of a code).
_UNIT, _RECORD = "\x1f", "\x1e"


@dataclass(frozen=True)
class ProductView:
    """A product as every surface sees it; `name` is in the language current when it was read."""

    id: int
    sku: str
    name: str
    name_zh: str
    name_en: str
    generic_zh: str
    generic_en: str
    atc: str
    allergen_classes: tuple[str, ...]
    substance: str
    rx_class: str
    category_l1: str
    category_l2: str
    form: str
    price: int
    pack_units: int
    units_per_day: float
    days_supply: int | None
    cold_chain: bool
    dtp: bool
    points_excluded: bool
    active: bool
    codes: tuple[str, ...]
    knowledge: dict
    code_kinds: tuple[tuple[str, str], ...] = ()  # (kind, code) for each of `codes`: gtin | trace | alias

    @property
    def gtins(self) -> tuple[str, ...]:
        """The GTIN-14s among `codes` (14 digits with a valid check digit)."""
        return tuple(c for c in self.codes if len(c) == 14 and has_valid_check_digit(c))

    @property
    def form_label(self) -> str:
        """The dosage form in the current language (a free-text form as typed)."""
        return form_label(self.form)

    @property
    def category_label(self) -> str:
        """Level 1 / level 2 category in the current language."""
        return " / ".join(x for x in (category_l1_label(self.category_l1), category_l2_label(self.category_l2)) if x)

    def as_json(self) -> dict[str, Any]:
        """The API's product shape."""
        return {
            "sku": self.sku,
            "name": self.name,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "generic_zh": self.generic_zh,
            "generic_en": self.generic_en,
            "atc": self.atc,
            "allergen_classes": list(self.allergen_classes),
            "substance": self.substance,
            "rx_class": self.rx_class,
            "category_l1": self.category_l1,
            "category_l2": self.category_l2,
            "form": self.form,
            "price": self.price,
            "pack_units": self.pack_units,
            "units_per_day": self.units_per_day,
            "days_supply": self.days_supply,
            "cold_chain": self.cold_chain,
            "dtp": self.dtp,
            "points_excluded": self.points_excluded,
            "active": self.active,
            "gtins": list(self.gtins),
            "codes": list(self.codes),
        }


def days_supply(pack_units: int, units_per_day: float) -> int | None:
    """How many days one pack lasts at the usual daily use (None when use is not daily, e.g. a device)."""
    if not units_per_day or units_per_day <= 0:
        return None
    return max(1, round(pack_units / units_per_day))


def knowledge_texts(value: Any) -> dict:
    """The stored knowledge JSON (text or already decoded) as a dict; {} when absent or not an object."""
    if isinstance(value, dict):
        return value
    if not value:
        return {}
    try:
        found = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _view(row: dict[str, Any], codes: Iterable[tuple[str, str]]) -> ProductView:
    ordered = sorted(set(codes), key=lambda kc: (_KIND_ORDER.get(kc[0], 9), kc[1]))
    pack_units, units_per_day = int(row["pack_units"] or 1), float(row["units_per_day"] or 0)
    return ProductView(
        id=row["id"],
        sku=row["sku"],
        name=pick(row["name_zh"], row["name_en"] or row["name_zh"]),
        name_zh=row["name_zh"],
        name_en=row["name_en"] or "",
        generic_zh=row["generic_zh"] or "",
        generic_en=row["generic_en"] or "",
        atc=row["atc"] or "",
        allergen_classes=tuple((row["allergen_classes"] or "").split()),
        substance=row["substance"] or "",
        rx_class=row["rx_class"],
        category_l1=row["category_l1"] or "",
        category_l2=row["category_l2"] or "",
        form=row["form"] or "",
        price=int(row["price"] or 0),
        pack_units=pack_units,
        units_per_day=units_per_day,
        days_supply=days_supply(pack_units, units_per_day),
        cold_chain=bool(row["cold_chain"]),
        dtp=bool(row["dtp"]),
        points_excluded=bool(row["points_excluded"]),
        active=bool(row["active"]),
        codes=tuple(code for _kind, code in ordered),
        knowledge=knowledge_texts(row["knowledge"]),
        code_kinds=tuple(ordered),
    )


def views(rows: list[dict[str, Any]]) -> list[ProductView]:
    """Rows of `queries.select_with_codes()` (one per product, its codes folded into `code_list`) → views, in order."""
    return [
        _view(
            row, [tuple(pair.split(_UNIT, 1)) for pair in row["code_list"].split(_RECORD)] if row["code_list"] else []
        )
        for row in rows
    ]


# A product's codes as "kind␟code␞kind␟code…" (ASCII unit and record separators: never part of a code).
_UNIT, _RECORD = "\x1f", "\x1e"
