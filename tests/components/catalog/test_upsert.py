"""Creating and updating products: audited, the essentials required, one product per SKU and per code."""

from __future__ import annotations

import asyncio

import pytest

from app.components import catalog
from app.components.audit import log as audit
from app.components.core.errors import NotFound, ValidationFailed
from app.db import fetch
from tests.components.catalog.catalog_data import _new
from tests.conftest import actor


async def test_create_then_update_by_sku_is_audited() -> None:
    admin = await actor("admin")
    product, created = await catalog.upsert_product(_new(sku="erp-100"), admin)
    assert created and product.sku == "ERP-100"
    assert product.atc == "M01AE01" and product.rx_class == "OTC" and product.category_l1 == "解热镇痛"
    assert product.substance == "ibuprofen" and product.price == 2350 and product.days_supply is None
    assert product.codes == ("06912345000000", "06912345000017", "8700001")
    assert (await catalog.resolve_code("6912345000000")).product.sku == "ERP-100"
    assert (await catalog.resolve_code("87000010000000000001")).product.sku == "ERP-100"
    updated, created = await catalog.upsert_product(
        catalog.ProductInput(sku="ERP-100", price_yuan="19.9", gtins="6912345000017"), admin
    )
    assert not created and updated.price == 1990 and updated.name_en == "Ibuprofen suspension 100 ml"
    assert updated.codes == ("06912345000017", "8700001")
    with pytest.raises(NotFound):
        await catalog.resolve_code("6912345000000")
    assert await audit.count(catalog.PRODUCT_UPSERT) == 2


async def test_create_needs_the_essentials_and_codes_stay_with_their_product(demo: int) -> None:
    admin = await actor("admin")
    with pytest.raises(ValidationFailed) as info:
        await catalog.upsert_product(catalog.ProductInput(sku="NEW-1", name_zh="新品"), admin)
    assert set(info.value.errors) == {"rx_class", "category_l1", "price"}
    with pytest.raises(ValidationFailed) as taken:
        await catalog.upsert_product(_new(gtins=catalog.demo_gtin(1)), admin)
    assert "YS00001" in taken.value.errors["gtins"]
    assert await fetch("SELECT id FROM product WHERE sku = 'ERP-100'") == []
    assert (await catalog.resolve_code(catalog.demo_gtin(1))).product.sku == "YS00001"


async def test_concurrent_creates_of_one_sku_make_one_product() -> None:
    admin = await actor("admin")
    results = await asyncio.gather(*(catalog.upsert_product(_new(), admin) for _ in range(5)))
    assert sorted(created for _p, created in results) == [False, False, False, False, True]
    assert len(await fetch("SELECT id FROM product WHERE sku = 'ERP-100'")) == 1
    assert len(await fetch("SELECT code FROM product_code")) == 3


async def test_two_products_racing_for_one_barcode_leave_it_with_one() -> None:
    admin = await actor("admin")
    results = await asyncio.gather(
        *(
            catalog.upsert_product(_new(sku=f"ERP-{n}", gtins="6912345000000", trace_prefixes=None), admin)
            for n in (1, 2)
        ),
        return_exceptions=True,
    )
    failed = [r for r in results if isinstance(r, ValidationFailed)]
    assert len(failed) == 1 and "gtins" in failed[0].errors
    owners = await fetch("SELECT product FROM product_code WHERE code = '06912345000000'")
    assert len(owners) == 1
    assert len(await fetch("SELECT id FROM product")) == 1  # the loser's product was rolled back with it
