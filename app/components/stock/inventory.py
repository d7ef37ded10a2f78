"""A store's stock list: per product what may be sold, what is held back and the nearest sellable expiry; the
stores HQ picks from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from app.components.core.clock import store_today
from app.components.stock import queries
from app.components.stock.batches import AVAILABLE, product_name
from app.db import as_date

PER_PAGE = 50


@dataclass(frozen=True)
class ProductStock:
    """One product's stock in a store: what may be sold, what is held back, the nearest sellable expiry."""

    product_id: int
    sku: str
    name: str
    sellable: int
    blocked: int
    nearest_expiry: date | None
    batches: int


@dataclass(frozen=True)
class StockPage:
    """One page of a store's stock, by SKU."""

    rows: list[ProductStock]
    page: int
    per_page: int
    has_next: bool
    q: str = ""
    store_id: int | None = None


async def store_stock(store_id: int, q: str = "", page: int = 1, per_page: int = PER_PAGE) -> StockPage:
    """Per product in a store: sellable units, units held back (quarantined, recalled or expired), the nearest
    sellable expiry and the number of batches; filtered by SKU or name, by SKU, one page at a time."""
    page = max(1, page)
    text = (q or "").strip()
    like = "%" + text.replace("%", "").replace("_", "") + "%" if text else None
    rows = await queries.stock_list_rows(store_id, AVAILABLE, store_today(), like, per_page + 1, (page - 1) * per_page)
    items = [
        ProductStock(
            product_id=r["id"],
            sku=r["sku"],
            name=product_name(r),
            sellable=int(r["sellable"] or 0),
            blocked=int(r["blocked"] or 0),
            nearest_expiry=as_date(r["nearest_expiry"]),
            batches=int(r["batches"]),
        )
        for r in rows[:per_page]
    ]
    return StockPage(items, page, per_page, len(rows) > per_page, text, store_id)


async def stores() -> list[dict]:
    """Active stores (id, code, name) for HQ to pick from."""
    return await queries.active_stores()
