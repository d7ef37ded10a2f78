"""The demo catalog: one product per row of app/data/drugs.csv, SKU YS0000n, GTIN `synthetic_gtin13(n)`,
traceability prefix 81000nn, with plausible prices."""

from __future__ import annotations

import csv
import zlib
from datetime import UTC, datetime
from functools import cache

from app.components.allergies import DATA
from app.components.catalog import queries
from app.components.scanning import synthetic_gtin13
from app.db import transaction

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
    async with transaction():
        before = await queries.count_products()
        await queries.seed_products(products, codes)
        after = await queries.count_products()
    return after - before
