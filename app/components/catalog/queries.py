"""The SQL of the catalog's tables (product, product_code): the one module that writes it.

`catalog_token` reads the catalog's row of `number_sequence` (bumped by triggers on any catalog write, migration
0004). The counter's lookup and the sale read products with `select_with_codes()`: one statement per call, the same
text as benchmarked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.db import char, execute_many, fetch, marks, placeholders, string_agg

COLUMNS = (
    "p.id, p.sku, p.name_zh, p.name_en, p.generic_zh, p.generic_en, p.atc, p.allergen_classes, p.substance,"
    " p.rx_class, p.category_l1, p.category_l2, p.form, p.price, p.pack_units, p.units_per_day, p.cold_chain,"
    " p.dtp, p.points_excluded, p.knowledge, p.active"
)
# Columns a product's input may set, each with its assignment: UPDATE and INSERT pick theirs from here.
WRITABLE = (
    "name_zh",
    "name_en",
    "generic_zh",
    "generic_en",
    "substance",
    "form",
    "atc",
    "allergen_classes",
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
_ASSIGN = {name: name + " = {}" for name in WRITABLE}
_INSERTABLE = {name: name for name in ("sku", *WRITABLE, "created_at", "updated_at")}


def select_with_codes() -> str:
    """SELECT of `COLUMNS` plus `code_list`: the product's codes as "kind␟code␞kind␟code…" (ASCII unit and record
    separators, never part of a code)."""
    folded = string_agg("pc.kind || " + char(31) + " || pc.code", char(30))
    return (
        "SELECT "
        + COLUMNS
        + ", (SELECT "
        + folded
        + " FROM product_code pc WHERE pc.product = p.id) AS code_list FROM product p"
    )


async def catalog_token(name: str) -> int | None:
    """The catalog's token (any write to product or product_code gives it a new one)."""
    rows = await fetch("SELECT value FROM number_sequence WHERE name = {}", name)
    return rows[0]["value"] if rows else None


async def rows_by_skus_or_codes(skus: list[str], codes: list[str]) -> list[dict]:
    """Products with one of these SKUs or holding one of these codes (`select_with_codes` rows)."""
    where = []
    if skus:
        where.append("p.sku IN (" + marks(skus) + ")")
    if codes:
        where.append("p.id IN (SELECT product FROM product_code WHERE code IN (" + marks(codes) + "))")
    if not where:
        return []
    return await fetch(select_with_codes() + " WHERE " + " OR ".join(where), *skus, *codes)


async def rows_by_sku(sku: str) -> list[dict]:
    return await fetch(select_with_codes() + " WHERE p.sku = {}", sku)


async def rows_by_ids(ids: list[int]) -> list[dict]:
    return await fetch(select_with_codes() + " WHERE p.id IN (" + marks(ids) + ")", *ids)


# ---------------------------------------------------------------- search and lists

_TEXT_COLUMNS = ("name_zh", "name_en", "generic_zh", "generic_en", "sku", "substance")
_TEXT_MATCH = " OR ".join("lower(p." + col + ") LIKE {} ESCAPE '!'" for col in _TEXT_COLUMNS)


def search_filter(
    pattern: str | None, atc_prefix: str | None, code_part: str | None, category_l1: str, include_inactive: bool
) -> tuple[str, list[Any]]:
    """The WHERE clause (with its arguments) of a catalog search: `pattern` (a LIKE pattern, lower case) on names,
    SKU and substance, or `atc_prefix` on the ATC code, or `code_part` inside a code; a category; active only."""
    clauses: list[str] = []
    args: list[Any] = []
    if pattern is not None:
        ors = [_TEXT_MATCH]
        args += [pattern] * len(_TEXT_COLUMNS)
        if atc_prefix is not None:
            ors.append("p.atc LIKE {} ESCAPE '!'")
            args.append(atc_prefix)
        if code_part is not None:
            # GTINs are stored as GTIN-14, so part of a code typed by hand matches anywhere in it.
            ors.append("p.id IN (SELECT product FROM product_code WHERE code LIKE {} ESCAPE '!')")
            args.append(code_part)
        clauses.append("(" + " OR ".join(ors) + ")")
    if category_l1:
        clauses.append("p.category_l1 = {}")
        args.append(category_l1)
    if not include_inactive:
        clauses.append("p.active")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


async def search_rows(where: str, args: list[Any], start: str, limit: int) -> list[dict]:
    """Products matching a `search_filter`, those whose name or generic name starts with `start` first."""
    return await fetch(
        select_with_codes() + where + " ORDER BY"
        " CASE WHEN lower(p.name_zh) LIKE {} ESCAPE '!' OR lower(p.generic_en) LIKE {} ESCAPE '!' THEN 0 ELSE 1 END,"
        " p.name_zh, p.sku LIMIT {}",
        *args,
        start,
        start,
        limit,
    )


async def count_where(where: str, args: list[Any]) -> int:
    return int((await fetch("SELECT count(*) AS n FROM product p" + where, *args))[0]["n"])


async def page_rows(where: str, args: list[Any], limit: int, offset: int) -> list[dict]:
    """One page of a `search_filter`, by category, name and SKU."""
    return await fetch(
        select_with_codes() + where + " ORDER BY p.category_l1, p.name_zh, p.sku LIMIT {} OFFSET {}",
        *args,
        limit,
        offset,
    )


async def category_rows() -> list[dict]:
    """(category_l1, n) for every level-1 category in use."""
    return await fetch("SELECT category_l1, count(*) AS n FROM product GROUP BY category_l1")


# ---------------------------------------------------------------- writes


async def compared_row(sku: str) -> dict | None:
    """A product's id and writable columns by SKU."""
    rows = await fetch("SELECT id, " + ", ".join(WRITABLE) + " FROM product WHERE sku = {}", sku)
    return rows[0] if rows else None


async def insert_product(row: dict[str, Any]) -> int | None:
    """A new product (`row`: sku, writable columns, created_at, updated_at); its id, None if the SKU exists."""
    columns = [_INSERTABLE[name] for name in row]
    inserted = await fetch(
        "INSERT INTO product (" + ", ".join(columns) + ") VALUES (" + marks(columns) + ")"
        " ON CONFLICT (sku) DO NOTHING RETURNING id",
        *row.values(),
    )
    return inserted[0]["id"] if inserted else None


async def update_product(product_id: int, changed: dict[str, Any], at: datetime) -> None:
    """Set the changed writable columns of a product, and its updated_at."""
    await fetch(
        "UPDATE product SET " + ", ".join(_ASSIGN[name] for name in changed) + ", updated_at = {} WHERE id = {}",
        *changed.values(),
        at,
        product_id,
    )


async def code_owners(codes: list[str], except_sku: str) -> list[dict]:
    """(code, sku) of those codes held by a product other than `except_sku`."""
    return await fetch(
        "SELECT pc.code, p.sku FROM product_code pc JOIN product p ON p.id = pc.product"
        " WHERE pc.code IN (" + marks(codes) + ") AND p.sku <> {}",
        *codes,
        except_sku,
    )


async def codes_of(product_id: int) -> list[dict]:
    return await fetch("SELECT code, kind FROM product_code WHERE product = {}", product_id)


async def delete_code(product_id: int, kind: str, code: str) -> None:
    await fetch("DELETE FROM product_code WHERE product = {} AND kind = {} AND code = {}", product_id, kind, code)


async def add_code(product_id: int, kind: str, code: str) -> None:
    """Give a product a code; a code may move between kinds of the same product, another product's stays put."""
    await fetch(
        "INSERT INTO product_code (code, product, kind) VALUES ({}, {}, {}) ON CONFLICT (code)"
        " DO UPDATE SET kind = excluded.kind WHERE product_code.product = excluded.product",
        code,
        product_id,
        kind,
    )


async def codes_taken(codes: list[str], product_id: int) -> list[dict]:
    """Those codes that another product holds."""
    return await fetch(
        "SELECT code FROM product_code WHERE code IN (" + marks(codes) + ") AND product <> {}", *codes, product_id
    )


# ---------------------------------------------------------------- demo catalog

_SEED_COLUMNS = (
    "sku, name_zh, name_en, generic_zh, generic_en, atc, allergen_classes, substance, rx_class, category_l1,"
    " category_l2, form, price, pack_units, units_per_day, cold_chain, dtp, points_excluded, knowledge, active,"
    " created_at, updated_at"
)


async def count_products() -> int:
    return int((await fetch("SELECT count(*) AS n FROM product"))[0]["n"])


async def seed_products(products: Sequence[Sequence[Any]], codes: Sequence[Sequence[Any]]) -> None:
    """Products (22 values each, `_SEED_COLUMNS`) and codes (code, kind, sku), leaving existing ones alone."""
    await execute_many(
        "INSERT INTO product (" + _SEED_COLUMNS + ") VALUES (" + placeholders(22) + ") ON CONFLICT (sku) DO NOTHING",
        products,
    )
    code, kind, sku = placeholders(3).split(", ")
    await execute_many(
        "INSERT INTO product_code (code, kind, product) SELECT " + code + ", " + kind + ", id FROM product"
        " WHERE sku = " + sku + " ON CONFLICT (code) DO NOTHING",
        codes,
    )
