"""The chain's product catalog: products, the codes that name them, search, knowledge cards and validation."""

from __future__ import annotations

import csv
import json
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from app.components import audit
from app.components.allergies import DATA, allergen_classes
from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.components.scanning import (
    TRACEABILITY_PRODUCT_DIGITS,
    BadScan,
    Scan,
    has_valid_check_digit,
    parse_scan,
    scanned_text,
    synthetic_gtin13,
)
from app.db import execute_many, fetch, in_transaction, is_sqlite, marks, placeholders, transaction
from app.i18n import _, current_language, join_list, pick
from app.tables.migrate import CATALOG_TOKEN

RX_CLASSES = ("Rx", "OTC", "device")
CODE_KINDS = ("gtin", "trace", "alias")
SKU_RE = re.compile(r"[A-Z][A-Z0-9_.\-]{1,23}")
# WHO ATC: level 1 (A) to level 5 (A10BA02); a product may carry a level-4 group when no substance code fits.
ATC_RE = re.compile(r"[A-Z](\d\d([A-Z]([A-Z](\d\d)?)?)?)?")
TRACE_PREFIX_RE = re.compile(rf"\d{{{TRACEABILITY_PRODUCT_DIGITS}}}")
# One category standard across the chain: level 1 (therapeutic area, as shelves and reports group them) → English.
CATEGORIES_L1: dict[str, str] = {
    "感冒/流感": "Cold & flu",
    "感冒/过敏": "Cold & allergy",
    "抗感染": "Anti-infectives",
    "解热镇痛": "Pain & fever",
    "呼吸系统": "Respiratory",
    "消化系统": "Digestive",
    "心脑血管": "Cardiovascular",
    "糖尿病": "Diabetes",
    "内分泌": "Endocrine",
    "肝病": "Liver disease",
    "痛风": "Gout",
    "骨科": "Bone & joint",
    "肿瘤": "Oncology",
    "免疫": "Immunology",
    "皮肤": "Skin",
    "五官": "Eye, ear, nose & throat",
    "妇科": "Women's health",
    "儿科": "Children's health",
    "维矿物质": "Vitamins & minerals",
    "医疗器械": "Medical devices",
}
# Level 2: the kind of product.
CATEGORIES_L2: dict[str, str] = {
    "西药": "Western medicine",
    "中成药": "Chinese patent medicine",
    "生物制品": "Biologic",
    "器械": "Device",
    "保健品": "Health supplement",
}
DEMO_SKU_PREFIX = "YS"
DEMO_TRACE_PREFIX = "81"
# Demo prices (fen) where a formula would be implausible: specialty (DTP) drugs, insulin and devices.
_DEMO_PRICES = {
    "entecavir": 3860,
    "insulin glargine": 16800,
    "osimertinib": 498000,
    "adalimumab": 258000,
    "blood glucose test strips": 9800,
    "upper-arm blood pressure monitor": 19900,
    "surgical masks": 990,
    "digital thermometer": 2990,
}
_FORMS_ZH = {
    "capsule": "粒",
    "tablet": "片",
    "sachet": "袋",
    "inhaler": "支",
    "pen": "支",
    "syringe": "支",
    "strip": "条",
    "mask": "只",
    "device": "台",
}
_FORMS_EN = {"capsule": "capsules", "tablet": "tablets", "sachet": "sachets", "strip": "strips", "mask": "masks"}
PRODUCT_UPSERT = "product.upsert"

_COLUMNS = (
    "p.id, p.sku, p.name_zh, p.name_en, p.generic_zh, p.generic_en, p.atc, p.allergen_classes, p.substance,"
    " p.rx_class, p.category_l1, p.category_l2, p.form, p.price, p.pack_units, p.units_per_day, p.cold_chain,"
    " p.dtp, p.points_excluded, p.knowledge, p.active"
)
_KIND_ORDER = {kind: i for i, kind in enumerate(CODE_KINDS)}


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


@dataclass(frozen=True)
class Resolved:
    """What a scanned or typed code named: the product and, for barcodes, what the code itself says."""

    product: ProductView
    scan: Scan | None


def rx_class_label(code: str) -> str:
    """Rx, OTC or device in the current language."""
    return {"Rx": _("Rx (prescription only)"), "OTC": _("OTC"), "device": _("Device")}.get(code, code)


def category_l1_label(code: str) -> str:
    """A level-1 category in the current language (the stored Chinese name is the code)."""
    return pick(code, CATEGORIES_L1[code]) if code in CATEGORIES_L1 else code


def form_label(form: str) -> str:
    """A dosage form code of the catalog (capsule, tablet …) in the current language; other text as typed."""
    return {
        "capsule": _("capsules"),
        "tablet": _("tablets"),
        "sachet": _("sachets"),
        "inhaler": _("inhalers"),
        "pen": _("pens"),
        "syringe": _("syringes"),
        "strip": _("strips"),
        "mask": _("masks"),
        "device": _("devices"),
    }.get(form, form)


def category_l1_code(text: str) -> str | None:
    """A level-1 category typed as its code (the Chinese name) or its English label, as its code; None if unknown."""
    return _choice(text, CATEGORIES_L1)


def category_l2_label(code: str) -> str:
    """A level-2 category in the current language."""
    return pick(code, CATEGORIES_L2[code]) if code in CATEGORIES_L2 else code


def days_supply(pack_units: int, units_per_day: float) -> int | None:
    """How many days one pack lasts at the usual daily use (None when use is not daily, e.g. a device)."""
    if not units_per_day or units_per_day <= 0:
        return None
    return max(1, round(pack_units / units_per_day))


def _knowledge(value: Any) -> dict:
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
        knowledge=_knowledge(row["knowledge"]),
        code_kinds=tuple(ordered),
    )


def _views(rows: list[dict[str, Any]]) -> list[ProductView]:
    """Rows of `_select_with_codes()` (one per product, its codes folded into `code_list`) → views, in row order."""
    return [
        _view(
            row, [tuple(pair.split(_UNIT, 1)) for pair in row["code_list"].split(_RECORD)] if row["code_list"] else []
        )
        for row in rows
    ]


# A product's codes as "kind␟code␞kind␟code…" (ASCII unit and record separators: never part of a code).
_UNIT, _RECORD = "\x1f", "\x1e"


def _select_with_codes() -> str:
    """SELECT of `_COLUMNS` plus `code_list` (each engine spells string aggregation its own way)."""
    folded = (
        "group_concat(pc.kind || char(31) || pc.code, char(30))"
        if is_sqlite()
        else "string_agg(pc.kind || chr(31) || pc.code, chr(30))"
    )
    return (
        f"SELECT {_COLUMNS}, (SELECT {folded} FROM product_code pc WHERE pc.product = p.id) AS code_list FROM product p"
    )


# ---------------------------------------------------------------- lookups


def _wanted(text: str) -> list[tuple[tuple[str, str], Scan | None]]:
    """The (via, key) pairs that may name the product of a typed or scanned text, first match wins, each with the
    reading of the text it stands for (None when the text is not a barcode): a GTIN by any code row, a traceability
    prefix by a `trace` row, other text by SKU or alias. A 20-digit code that reads both as GS1 and as a
    traceability code tries its prefix first (app.components.barcodes: the 20-digit rule)."""
    try:
        scan = parse_scan(text)
    except BadScan:
        # Not a barcode: perhaps a SKU or an alias (old supplier codes may even look like broken barcodes), also on
        # a plain Code 128 label read by a scanner that sends its symbology identifier.
        plain = scanned_text(text)
        return [(("sku", plain.upper()), None), (("alias", plain), None)] if plain else []
    readings = [scan] if scan.traceability_alternative is None else [scan.traceability_alternative, scan]
    return [
        ((("trace", r.product_key or "") if r.kind == "traceability" else ("code", r.gtin or "")), r) for r in readings
    ]


class _ProductCache:
    """Product views this process has read in one language, good while the catalog's token is `token`."""

    __slots__ = ("by_id", "owner", "token")

    def __init__(self, token: int) -> None:
        self.token = token
        self.by_id: dict[int, ProductView] = {}
        # What each (via, key) pair names: a GTIN by a code row of any kind, the others by their own kind.
        self.owner: dict[tuple[str, str], ProductView] = {}

    def add(self, views: Iterable[ProductView]) -> None:
        for view in views:
            self.by_id[view.id] = view
            self.owner[("sku", view.sku)] = view
            for kind, code in view.code_kinds:
                self.owner[(kind, code)] = self.owner[("code", code)] = view


_CACHES: dict[str, _ProductCache] = {}  # language → cache
_CACHE_LIMIT = 20_000  # products; a larger set starts over (a chain's catalog is a few thousand)


async def _cache() -> _ProductCache:
    """The product views that are still the catalog as it is now: emptied whenever its token has changed (any
    write to product or product_code gives it a new one, migration 0004). Inside a transaction, and without a
    token, an empty one that nobody keeps: what is read there may be its own writes, which may yet roll back.

    A view read after the token is read is at least as new as the token; one newer than its cache's token only
    lives until the next request reads the new token."""
    if in_transaction():
        return _ProductCache(0)
    rows = await fetch("SELECT value FROM number_sequence WHERE name = {}", CATALOG_TOKEN)
    if not rows:
        return _ProductCache(0)
    token, language = rows[0]["value"], current_language.get()
    found = _CACHES.get(language)
    if found is None or found.token != token or len(found.by_id) > _CACHE_LIMIT:
        found = _CACHES[language] = _ProductCache(token)
    return found


async def resolve_codes(raws: list[str]) -> list[Resolved | BadScan | NotFound]:
    """`resolve_code` for several codes in one query (none when the process has read them all already): for each,
    its Resolved or the error it would raise."""
    texts = [(raw or "").strip() for raw in raws]
    wanted = [_wanted(text) for text in texts]
    cache = await _cache()
    # A text's first (via, key) pair wins: only a cached first pair answers without the database (a cached later
    # pair may be outranked by a product not in the cache, e.g. a SKU that is another product's alias).
    missing = [[pair for pair, _scan in pairs] for pairs in wanted if pairs and pairs[0][0] not in cache.owner]
    skus = sorted({key for pairs in missing for via, key in pairs if via == "sku"})
    codes = sorted({key for pairs in missing for via, key in pairs if via != "sku"})
    where = []
    if skus:
        where.append(f"p.sku IN ({marks(skus)})")
    if codes:
        where.append(f"p.id IN (SELECT product FROM product_code WHERE code IN ({marks(codes)}))")
    if where:
        cache.add(_views(await fetch(f"{_select_with_codes()} WHERE {' OR '.join(where)}", *skus, *codes)))
    return [_resolved(text, pairs, cache.owner) for text, pairs in zip(texts, wanted, strict=True)]


def _resolved(
    text: str, pairs: list[tuple[tuple[str, str], Scan | None]], owner: dict[tuple[str, str], ProductView]
) -> Resolved | BadScan | NotFound:
    for pair, scan in pairs:
        if pair in owner:
            return Resolved(product=owner[pair], scan=scan)
    scan = pairs[-1][1] if pairs else None  # the reading used when the catalog knows none (GS1 for 20 digits)
    if scan is None:
        plain = scanned_text(text)
        if SKU_RE.fullmatch(plain.upper()) and not plain.isdigit():
            return NotFound(_("No product has the SKU or code %(code)s.") % {"code": plain})
        try:
            parse_scan(text)  # the parser's own message says what is wrong with the code
        except BadScan as exc:
            return exc
    assert scan is not None
    if scan.kind == "traceability":
        return NotFound(
            _("No product has the traceability prefix %(prefix)s (code %(code)s).")
            % {"prefix": scan.product_key, "code": scan.traceability_code}
        )
    assert scan.gtin is not None
    shown = scan.gtin[1:] if scan.gtin.startswith("0") else scan.gtin
    trace = scan.traceability_alternative
    if trace is not None:
        return NotFound(
            _("No product has the barcode %(code)s, nor the traceability prefix %(prefix)s (code %(trace)s).")
            % {"code": shown, "prefix": trace.product_key, "trace": trace.traceability_code}
        )
    return NotFound(_("No product has the barcode %(code)s.") % {"code": shown})


async def resolve_code(raw: str) -> Resolved:
    """The product any scannable code names: EAN/GTIN, GS1 element string, 20-digit traceability code (by its
    7-digit product prefix), SKU or alias. Inactive products resolve too (`active` says so; selling decides).

    Raises `BadScan` for an unreadable code and `NotFound` (naming the code) for a valid one nobody carries.
    """
    found = (await resolve_codes([raw]))[0]
    if isinstance(found, Exception):
        raise found
    return found


async def get_product(sku: str) -> ProductView:
    """The product with this SKU; NotFound naming it otherwise."""
    rows = await fetch(f"{_select_with_codes()} WHERE p.sku = {{}}", (sku or "").strip().upper())
    found = _views(rows)
    if not found:
        raise NotFound(_("No product has the SKU %(sku)s.") % {"sku": sku})
    return found[0]


async def products_by_ids(ids: Iterable[int]) -> dict[int, ProductView]:
    """Products by id (missing ids are left out)."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return {}
    cache = await _cache()
    missing = [i for i in wanted if i not in cache.by_id]
    if missing:
        cache.add(_views(await fetch(f"{_select_with_codes()} WHERE p.id IN ({marks(missing)})", *missing)))
    return {i: cache.by_id[i] for i in wanted if i in cache.by_id}


def _like(text: str) -> str:
    """`text` as a LIKE pattern that matches it anywhere, its wildcards escaped (ESCAPE '!')."""
    return "%" + text.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def _search_where(q: str, category_l1: str = "", include_inactive: bool = False) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    q = (q or "").strip()
    if q:
        pattern = _like(q.lower())
        ors = [
            f"lower(p.{col}) LIKE {{}} ESCAPE '!'"
            for col in ("name_zh", "name_en", "generic_zh", "generic_en", "sku", "substance")
        ]
        args += [pattern] * len(ors)
        if ATC_RE.fullmatch(q.upper()):
            ors.append("p.atc LIKE {} ESCAPE '!'")
            args.append(_like(q.upper())[1:])  # a prefix, not anywhere
        digits = q.replace(" ", "")
        if digits.isdigit() and len(digits) >= 4:
            # Part of a code typed by hand; GTINs are stored as GTIN-14, so match anywhere in the code.
            ors.append("p.id IN (SELECT product FROM product_code WHERE code LIKE {} ESCAPE '!')")
            args.append(_like(digits))
        clauses.append("(" + " OR ".join(ors) + ")")
    if category_l1:
        clauses.append("p.category_l1 = {}")
        args.append(category_l1)
    if not include_inactive:
        clauses.append("p.active")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


async def search(q: str, limit: int = 20, include_inactive: bool = False) -> list[ProductView]:
    """Active products matching `q`: a whole code (any scannable form) or SKU first, then name, generic name,
    substance, ATC prefix ("J01C") or part of a code; name matches at the start rank before matches inside."""
    q = (q or "").strip()
    if not q:
        return []
    limit = max(1, min(int(limit), 200))
    exact: list[ProductView] = []
    if q[0].isdigit() or q[0] in "](" or SKU_RE.fullmatch(q.upper()):
        try:
            found = (await resolve_code(q)).product
        except (BadScan, NotFound):
            pass
        else:
            if found.active or include_inactive:
                exact.append(found)
    where, args = _search_where(q, include_inactive=include_inactive)
    start = q.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"
    rows = await fetch(
        f"{_select_with_codes()}{where} ORDER BY"
        " CASE WHEN lower(p.name_zh) LIKE {} ESCAPE '!' OR lower(p.generic_en) LIKE {} ESCAPE '!' THEN 0 ELSE 1 END,"
        f" p.name_zh, p.sku LIMIT {limit}",
        *args,
        start,
        start,
    )
    seen = {p.id for p in exact}
    return (exact + [v for v in _views(rows) if v.id not in seen])[:limit]


@dataclass(frozen=True)
class ProductPage:
    """One page of the catalog list."""

    products: list[ProductView]
    page: int
    per_page: int
    has_next: bool
    total: int


async def list_products(
    q: str = "", category_l1: str = "", page: int = 1, per_page: int = 30, include_inactive: bool = True
) -> ProductPage:
    """The catalog for HQ pages: filtered by text and level-1 category, ordered by category then name."""
    page, per_page = max(1, page), max(1, min(per_page, 100))
    where, args = _search_where(q, category_l1, include_inactive)
    total = (await fetch(f"SELECT count(*) AS n FROM product p{where}", *args))[0]["n"]
    rows = await fetch(
        f"{_select_with_codes()}{where} ORDER BY p.category_l1, p.name_zh, p.sku"
        f" LIMIT {per_page + 1} OFFSET {(page - 1) * per_page}",
        *args,
    )
    views = _views(rows[:per_page])
    return ProductPage(products=views, page=page, per_page=per_page, has_next=len(rows) > per_page, total=total)


async def category_counts() -> list[tuple[str, int]]:
    """(level-1 category, number of products) for the filter, in the chain list's order."""
    rows = await fetch("SELECT category_l1, count(*) AS n FROM product GROUP BY category_l1")
    counts = {r["category_l1"]: r["n"] for r in rows}
    order = list(CATEGORIES_L1) + sorted(k for k in counts if k not in CATEGORIES_L1)
    return [(c, counts[c]) for c in order if c in counts]


# ---------------------------------------------------------------- demo catalog


@cache
def demo_rows() -> tuple[dict[str, str], ...]:
    """The rows of app/data/drugs.csv, in file order (row n is demo product n, counting from 1)."""
    with open(DATA / "drugs.csv", encoding="utf-8") as fh:
        return tuple(csv.DictReader(fh))


def demo_sku(n: int) -> str:
    """SKU of demo product n."""
    return f"{DEMO_SKU_PREFIX}{n:05d}"


def demo_gtin(n: int) -> str:
    """GTIN-14 of demo product n (its EAN-13 `synthetic_gtin13(n)` padded with a zero)."""
    return synthetic_gtin13(n).zfill(14)


def demo_trace_prefix(n: int) -> str:
    """The 7-digit traceability product prefix of demo product n."""
    return f"{DEMO_TRACE_PREFIX}{n:05d}"


def _demo_price(row: dict[str, str]) -> int:
    if row["generic_en"] in _DEMO_PRICES:
        return _DEMO_PRICES[row["generic_en"]]
    spread = zlib.crc32(row["generic_en"].encode()) % 40
    base = 1500 if row["rx_otc"] == "Rx" else 800
    return base + spread * 100 + (50 if spread % 3 == 0 else 0)


def _demo_names(row: dict[str, str]) -> tuple[str, str]:
    pack, form = int(row["pack_units"]), row["form"]
    name_zh = row["generic_zh"] if form == "device" else f"{row['generic_zh']} {pack}{_FORMS_ZH.get(form, '')}"
    generic = row["generic_en"][:1].upper() + row["generic_en"][1:]
    if form in _FORMS_EN and not generic.endswith(_FORMS_EN[form]):
        name_en = f"{generic} {_FORMS_EN[form]} ×{pack}"
    elif pack > 1:
        name_en = f"{generic} ×{pack}"
    else:
        name_en = generic
    return name_zh, name_en


async def seed_demo_catalog() -> int:
    """One product per row of drugs.csv with SKU YS0000n, GTIN `synthetic_gtin13(n)` and traceability prefix
    81000nn; idempotent (existing SKUs and codes are left alone). Returns how many products were created."""
    now = datetime.now(UTC)
    products = []
    codes = []
    for n, row in enumerate(demo_rows(), start=1):
        name_zh, name_en = _demo_names(row)
        sku = demo_sku(n)
        products.append(
            (
                sku,
                name_zh,
                name_en,
                row["generic_zh"],
                row["generic_en"],
                row["atc"],
                " ".join(row["allergen_class"].split()),
                row["generic_en"].lower(),
                row["rx_otc"],
                row["category_l1"],
                row["category_l2"],
                row["form"],
                _demo_price(row),
                int(row["pack_units"]),
                float(row["units_per_day"] or 0),
                row["cold_chain"] == "1",
                row["dtp"] == "1",
                False,
                "{}",
                True,
                now,
                now,
            )
        )
        codes += [(demo_gtin(n), "gtin", sku), (demo_trace_prefix(n), "trace", sku)]
    columns = (
        "sku, name_zh, name_en, generic_zh, generic_en, atc, allergen_classes, substance, rx_class, category_l1,"
        " category_l2, form, price, pack_units, units_per_day, cold_chain, dtp, points_excluded, knowledge, active,"
        " created_at, updated_at"
    )
    async with transaction():
        before = (await fetch("SELECT count(*) AS n FROM product"))[0]["n"]
        await execute_many(
            f"INSERT INTO product ({columns}) VALUES ({placeholders(22)}) ON CONFLICT (sku) DO NOTHING", products
        )
        code, kind, sku = placeholders(3).split(", ")
        await execute_many(
            f"INSERT INTO product_code (code, kind, product) SELECT {code}, {kind}, id FROM product"
            f" WHERE sku = {sku} ON CONFLICT (code) DO NOTHING",
            codes,
        )
        after = (await fetch("SELECT count(*) AS n FROM product"))[0]["n"]
    return after - before


# ---------------------------------------------------------------- knowledge cards

KNOWLEDGE_FIELDS = ("indications", "usage", "contraindications", "counselling")


@dataclass(frozen=True)
class KnowledgeCard:
    """What a pharmacist tells the customer, in the current language; `source` is the reference key used
    (an ATC prefix or "substance:…"), "" when nothing applies."""

    indications: str
    usage: str
    contraindications: str
    counselling: str
    source: str

    @property
    def empty(self) -> bool:
        return not any((self.indications, self.usage, self.contraindications, self.counselling))


@cache
def knowledge_reference() -> dict[str, dict[str, tuple[str, str]]]:
    """app/data/knowledge.csv: key (ATC prefix or "substance:<substance>") → field → (zh, en)."""
    with open(DATA / "knowledge.csv", encoding="utf-8") as fh:
        return {
            row["key"].strip(): {f: (row[f"{f}_zh"].strip(), row[f"{f}_en"].strip()) for f in KNOWLEDGE_FIELDS}
            for row in csv.DictReader(fh)
        }


def _reference_for(product: ProductView) -> tuple[str, dict[str, tuple[str, str]]]:
    table = knowledge_reference()
    key = f"substance:{product.substance}"
    if product.substance and key in table:
        return key, table[key]
    atc = product.atc
    for length in range(len(atc), 0, -1):  # the most specific prefix wins
        if atc[:length] in table:
            return atc[:length], table[atc[:length]]
    return "", {}


def knowledge_card(product: ProductView) -> KnowledgeCard:
    """The product's card: its own `knowledge` texts where present, else the reference for its substance or the
    most specific ATC prefix."""
    source, reference = _reference_for(product)
    texts: dict[str, str] = {}
    for name in KNOWLEDGE_FIELDS:
        own = product.knowledge.get(name)
        if isinstance(own, dict) and (own.get("zh") or own.get("en")):
            texts[name] = pick(own.get("zh") or own.get("en", ""), own.get("en") or own.get("zh", ""))
        elif isinstance(own, str) and own.strip():
            texts[name] = own.strip()
        else:
            zh, en = reference.get(name, ("", ""))
            texts[name] = pick(zh or en, en or zh)
    return KnowledgeCard(source=source, **texts)


# ---------------------------------------------------------------- create and update

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


def _choice(value: str, choices: dict[str, str]) -> str | None:
    """A category given by its code (Chinese name) or English label, as its code."""
    text = value.strip()
    if text in choices:
        return text
    for code, label in choices.items():
        if text.casefold() == label.casefold():
            return code
    return None


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
        code = _choice(str(value), choices) if str(value).strip() else ""
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


_REQUIRED = {
    "name_zh": lambda: _("Enter the product's Chinese name."),
    "rx_class": lambda: _("Choose Rx, OTC or device."),
    "category_l1": lambda: _("Choose one of: %(choices)s.") % {"choices": join_list(CATEGORIES_L1)},
    "price": lambda: _("The price is a whole number of fen, 0 or more."),
}


_CODE_FIELD = {"gtin": "gtins", "trace": "trace_prefixes", "alias": "aliases"}
_COMPARED = (
    *_LENGTHS,
    "atc",
    "allergen_classes",
    "substance",
    "rx_class",
    "category_l1",
    "category_l2",
    "price",
    "pack_units",
    "units_per_day",
    "cold_chain",
    "dtp",
    "points_excluded",
    "active",
    "knowledge",
)


def _same_value(name: str, old: Any, new: Any) -> bool:
    if name == "knowledge":
        return _knowledge(old) == _knowledge(new)
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
    in_list = marks(wanted)
    rows = await fetch(
        f"SELECT pc.code, p.sku FROM product_code pc JOIN product p ON p.id = pc.product"
        f" WHERE pc.code IN ({in_list}) AND p.sku <> {{}}",
        *wanted,
        sku,
    )
    if rows:
        kind = next(k for k in codes if rows[0]["code"] in codes[k])
        message = _("%(code)s already belongs to %(sku)s.") % {"code": rows[0]["code"], "sku": rows[0]["sku"]}
        raise ValidationFailed({_CODE_FIELD[kind]: message})


async def _save_codes(product_id: int, codes: dict[str, list[str]]) -> bool:
    """Make the product's codes of each given kind exactly the given ones; True when anything changed."""
    current = await fetch("SELECT code, kind FROM product_code WHERE product = {}", product_id)
    have = {(r["kind"], r["code"]) for r in current}
    want = {(kind, code) for kind, kind_codes in codes.items() for code in kind_codes}
    stale = [(k, c) for k, c in have if k in codes and (k, c) not in want]
    missing = [(k, c) for k, c in want if (k, c) not in have]
    for kind, code in stale:
        await fetch("DELETE FROM product_code WHERE product = {} AND kind = {} AND code = {}", product_id, kind, code)
    for kind, code in missing:
        # A code may move between kinds of the same product (an alias that is really a GTIN); another
        # product's code is left alone here and reported below.
        await fetch(
            "INSERT INTO product_code (code, product, kind) VALUES ({}, {}, {}) ON CONFLICT (code)"
            " DO UPDATE SET kind = excluded.kind WHERE product_code.product = excluded.product",
            code,
            product_id,
            kind,
        )
    if missing:
        # Another product may have taken a code between the check and the insert (concurrent writers).
        in_list = marks(missing)
        taken = await fetch(
            f"SELECT code FROM product_code WHERE code IN ({in_list}) AND product <> {{}}",
            *(c for _k, c in missing),
            product_id,
        )
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
    rows = await fetch(f"SELECT id, {', '.join(_COMPARED)} FROM product WHERE sku = {{}}", sku)
    if rows and create_only:
        raise ValidationFailed({"sku": _("A product with the SKU %(sku)s exists already.") % {"sku": sku}})
    if not rows:
        missing = {k: message() for k, message in _REQUIRED.items() if values.get(k) in (None, "")}
        if "price" in missing and price_field != "price":
            missing[price_field] = _("Enter the price in yuan, for example 12.50.")
            del missing["price"]
        if missing:
            raise ValidationFailed(missing)
    await _check_codes(sku, codes)
    now = datetime.now(UTC)
    if not rows:
        row = {
            "sku": sku,
            **values,
            "substance": values.get("substance") or (values.get("generic_en") or "").lower(),
            "created_at": now,
            "updated_at": now,
        }
        inserted = await fetch(
            f"INSERT INTO product ({', '.join(row)}) VALUES ({', '.join('{}' for _ in row)})"
            " ON CONFLICT (sku) DO NOTHING RETURNING id",
            *row.values(),
        )
        if inserted:
            await _save_codes(inserted[0]["id"], codes)
            return "created"
        if create_only:
            raise ValidationFailed({"sku": _("A product with the SKU %(sku)s exists already.") % {"sku": sku}})
        # Created by a concurrent writer since the read: update it instead.
        rows = await fetch(f"SELECT id, {', '.join(_COMPARED)} FROM product WHERE sku = {{}}", sku)
    current = rows[0]
    changed = {k: v for k, v in values.items() if not _same_value(k, current[k], v)}
    if changed:
        await fetch(
            f"UPDATE product SET {', '.join(f'{n} = {{}}' for n in changed)}, updated_at = {{}} WHERE id = {{}}",
            *changed.values(),
            now,
            current["id"],
        )
    codes_changed = await _save_codes(current["id"], codes)
    return "updated" if changed or codes_changed else "unchanged"


def validate_input(data: ProductInput) -> tuple[str, dict[str, Any], dict[str, list[str]]]:
    """(sku, column values given, codes given by kind) of valid input; ValidationFailed names each bad field."""
    sku, values, codes, errors = _validate(data)
    if errors:
        raise ValidationFailed(errors)
    return sku, values, codes


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
