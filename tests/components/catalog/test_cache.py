"""The product cache: a change made anywhere is what the next scan sees, a rolled-back one is not; per language."""

from __future__ import annotations

import pytest

from app.components import catalog
from app.components.core.errors import NotFound
from app.db import fetch, transaction
from app.i18n import use_language


async def test_a_catalog_change_made_anywhere_is_what_the_next_scan_sees(demo: int) -> None:
    """Each process keeps the products it has read; a change by any route (this app, an import, an ERP's or a
    console's own SQL) must still show at the very next scan."""
    first = (await catalog.resolve_code("YS00001")).product
    assert (await catalog.products_by_ids([first.id]))[first.id].price == first.price
    await fetch("UPDATE product SET price = price + 100 WHERE id = {}", first.id)  # not through this module
    assert (await catalog.resolve_code("YS00001")).product.price == first.price + 100
    assert (await catalog.products_by_ids([first.id]))[first.id].price == first.price + 100
    await fetch("INSERT INTO product_code (code, product, kind) VALUES ({}, {}, 'alias')", "OLD-1", first.id)
    assert "OLD-1" in (await catalog.resolve_code("YS00001")).product.codes
    assert (await catalog.resolve_code("OLD-1")).product.id == first.id
    await fetch("DELETE FROM product_code WHERE code = {}", "OLD-1")
    with pytest.raises(NotFound):
        await catalog.resolve_code("OLD-1")
    await fetch("DELETE FROM product_code WHERE product = {}", first.id)
    await fetch("DELETE FROM product WHERE id = {}", first.id)
    with pytest.raises(NotFound):
        await catalog.resolve_code("YS00001")
    assert await catalog.products_by_ids([first.id]) == {}


async def test_a_catalog_change_that_rolls_back_is_not_what_the_next_scan_sees(demo: int) -> None:
    before = (await catalog.resolve_code("YS00001")).product
    with pytest.raises(RuntimeError):
        async with transaction():
            await fetch("UPDATE product SET price = 1 WHERE id = {}", before.id)
            assert (await catalog.resolve_code("YS00001")).product.price == 1  # the transaction sees its own write
            raise RuntimeError("rolled back")
    assert (await catalog.resolve_code("YS00001")).product.price == before.price


async def test_each_language_gets_its_own_product_names(demo: int) -> None:
    with use_language("zh_CN"):
        zh = (await catalog.resolve_code("YS00001")).product
    en = (await catalog.resolve_code("YS00001")).product
    with use_language("zh_CN"):
        assert (await catalog.resolve_code("YS00001")).product.name == zh.name == zh.name_zh
    assert en.name == en.name_en != zh.name
