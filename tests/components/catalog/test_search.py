"""Catalog search: by name, generic name and ATC prefix, an exact code first, inactive products left out."""

from __future__ import annotations

import pytest

from app.components import catalog
from app.db import fetch


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("阿莫西林", {"amoxicillin", "amoxicillin/clavulanate"}),
        ("头孢", {"cefalexin", "cefadroxil", "cefuroxime axetil", "cefixime", "cefdinir"}),
        ("amoxicillin", {"amoxicillin", "amoxicillin/clavulanate"}),
        ("Metformin", {"metformin"}),
        ("J01C", {"amoxicillin", "amoxicillin/clavulanate"}),
        ("j01d", {"cefalexin", "cefadroxil", "cefuroxime axetil", "cefixime", "cefdinir"}),
        ("C09CA", {"valsartan", "losartan", "irbesartan"}),
    ],
)
async def test_search_by_name_generic_and_atc_prefix(demo: int, q: str, expected: set[str]) -> None:
    assert {p.generic_en for p in await catalog.search(q)} == expected


async def test_search_by_code_puts_the_exact_product_first(demo: int) -> None:
    ean = catalog.demo_gtin(12)[1:]
    assert [p.sku for p in await catalog.search(ean)] == ["YS00012"]
    assert (await catalog.search(catalog.demo_gtin(12)))[0].sku == "YS00012"
    assert (await catalog.search("YS00012"))[0].sku == "YS00012"
    assert "YS00012" in [p.sku for p in await catalog.search(ean[:9])]  # a code typed in part
    assert await catalog.search("") == []
    assert await catalog.search("%") == []  # wildcards are literal
    assert len(await catalog.search("a", limit=5)) == 5


async def test_search_leaves_out_inactive_products(demo: int) -> None:
    await fetch("UPDATE product SET active = {} WHERE sku = 'YS00001'", False)
    assert "YS00001" not in [p.sku for p in await catalog.search("amoxicillin")]
    assert "YS00001" in [p.sku for p in await catalog.search("amoxicillin", include_inactive=True)]
    # A scan still names it, so the counter can say it is no longer sold.
    assert not (await catalog.resolve_code(catalog.demo_gtin(1))).product.active
