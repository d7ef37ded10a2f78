"""The product views this process has read, per language, kept while the catalog's token is unchanged (any write
to product or product_code gives it a new one), so a counter scan of a known code needs one small query."""

from __future__ import annotations

from collections.abc import Iterable

from app.components.catalog import queries
from app.components.catalog.products import ProductView
from app.db import in_transaction
from app.i18n import current_language
from app.tables.migrate import CATALOG_TOKEN


class ProductCache:
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


_CACHES: dict[str, ProductCache] = {}  # language → cache
_CACHE_LIMIT = 20_000  # products; a larger set starts over (a chain's catalog is a few thousand)


async def cached() -> ProductCache:
    """The product views that are still the catalog as it is now: emptied whenever its token has changed (any
    write to product or product_code gives it a new one, migration 0004). Inside a transaction, and without a
    token, an empty one that nobody keeps: what is read there may be its own writes, which may yet roll back.

    A view read after the token is read is at least as new as the token; one newer than its cache's token only
    lives until the next request reads the new token."""
    if in_transaction():
        return ProductCache(0)
    token = await queries.catalog_token(CATALOG_TOKEN)
    if token is None:
        return ProductCache(0)
    language = current_language.get()
    found = _CACHES.get(language)
    if found is None or found.token != token or len(found.by_id) > _CACHE_LIMIT:
        found = _CACHES[language] = ProductCache(token)
    return found
