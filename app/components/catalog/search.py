"""Catalog search: as the counter types (a whole code or SKU first, then names, generic names, substance, an ATC
prefix or part of a code; matches at the start first) and the HQ list (filtered by text and category, paged)."""

from __future__ import annotations

from dataclasses import dataclass

from app.components.catalog import queries
from app.components.catalog.lookup import resolve_code
from app.components.catalog.products import ATC_RE, SKU_RE, ProductView, views
from app.components.core.errors import NotFound
from app.components.scanning import BadScan


def _like(text: str) -> str:
    """`text` as a LIKE pattern that matches it anywhere, its wildcards escaped (ESCAPE '!')."""
    return "%" + text.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def _filter(q: str, category_l1: str = "", include_inactive: bool = False) -> tuple[str, list]:
    q = (q or "").strip()
    pattern = atc = code_part = None
    if q:
        pattern = _like(q.lower())
        if ATC_RE.fullmatch(q.upper()):
            atc = _like(q.upper())[1:]  # a prefix, not anywhere
        digits = q.replace(" ", "")
        if digits.isdigit() and len(digits) >= 4:
            code_part = _like(digits)
    return queries.search_filter(pattern, atc, code_part, category_l1, include_inactive)


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
    where, args = _filter(q, include_inactive=include_inactive)
    start = q.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"
    rows = await queries.search_rows(where, args, start, limit)
    seen = {p.id for p in exact}
    return (exact + [v for v in views(rows) if v.id not in seen])[:limit]


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
    where, args = _filter(q, category_l1, include_inactive)
    total = await queries.count_where(where, args)
    rows = await queries.page_rows(where, args, per_page + 1, (page - 1) * per_page)
    return ProductPage(
        products=views(rows[:per_page]), page=page, per_page=per_page, has_next=len(rows) > per_page, total=total
    )
