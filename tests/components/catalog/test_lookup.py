"""Finding products by any code: EAN/GTIN, GS1 element strings, traceability prefixes, SKU, alias; many at once."""

from __future__ import annotations

import pytest

from app.components import catalog
from app.components.core.errors import NotFound
from app.components.scanning import GS, BadScan
from app.db import fetch
from tests.components.catalog.catalog_data import _expiry_in_a_year


async def test_every_demo_gtin_resolves_as_ean13_and_gtin14(demo: int) -> None:
    for n, row in enumerate(catalog.demo_rows(), start=1):
        ean = catalog.demo_gtin(n)[1:]
        found = await catalog.resolve_code(ean)
        assert found.product.sku == catalog.demo_sku(n)
        assert found.product.generic_en == row["generic_en"]
        assert found.scan is not None and found.scan.gtin == catalog.demo_gtin(n)
        assert (await catalog.resolve_code(catalog.demo_gtin(n))).product.sku == catalog.demo_sku(n)


async def test_gs1_element_string_resolves_and_carries_batch_expiry_serial(demo: int) -> None:
    gtin = catalog.demo_gtin(3)
    yymmdd, expiry = _expiry_in_a_year()
    found = await catalog.resolve_code(f"]d201{gtin}17{yymmdd}10B2406A{GS}21SN0001234{GS}71012345")
    assert found.product.generic_en == "cefalexin"
    assert found.scan is not None
    assert found.scan.batch == "B2406A"
    assert found.scan.serial == "SN0001234"
    assert found.scan.expiry == expiry
    assert found.scan.ai("710") == "12345"  # kept with the scan, not needed by the sale
    bracketed = await catalog.resolve_code(f"(01){gtin}(10)LOT9")
    assert bracketed.product.sku == catalog.demo_sku(3) and bracketed.scan.batch == "LOT9"


async def test_traceability_code_resolves_by_its_product_prefix(demo: int) -> None:
    code = catalog.demo_trace_prefix(5) + "0012345678901"
    found = await catalog.resolve_code(code)
    assert found.product.sku == catalog.demo_sku(5)
    assert found.scan is not None and found.scan.traceability_code == code
    with pytest.raises(NotFound) as info:
        await catalog.resolve_code("79999990012345678901")
    assert "7999999" in info.value.message


async def test_codes_behind_a_symbology_identifier_resolve(demo: int) -> None:
    """A scanner with AIM ids on: ]E0 EAN-13, ]C0 before a traceability code or a SKU label, ]e0 DataBar."""
    assert (await catalog.resolve_code("]E0" + catalog.demo_gtin(2)[1:])).product.sku == catalog.demo_sku(2)
    trace = catalog.demo_trace_prefix(5) + "0012345678901"
    found = await catalog.resolve_code("]C0" + trace)
    assert found.product.sku == catalog.demo_sku(5) and found.scan.traceability_code == trace
    assert (await catalog.resolve_code("]C0YS00007")).product.sku == "YS00007"
    assert (await catalog.resolve_code("]e001" + catalog.demo_gtin(4))).product.sku == catalog.demo_sku(4)
    with pytest.raises(NotFound) as info:
        await catalog.resolve_code("]C0YS99999")
    assert info.value.message == "No product has the SKU or code YS99999."


async def test_20_digits_that_read_both_ways_take_the_traceability_prefix_the_catalog_knows(demo: int) -> None:
    gtin = catalog.demo_gtin(3)
    code = "01" + gtin + "2012"  # (01) GTIN (20) 12, and also a traceability code of prefix 01 + gtin[:5]
    prefix = code[:7]
    found = await catalog.resolve_code(code)
    assert found.product.sku == catalog.demo_sku(3)  # no product has the prefix: GS1
    assert found.scan.kind == "gs1" and found.scan.gtin == gtin
    other = await catalog.get_product(catalog.demo_sku(6))
    await fetch("INSERT INTO product_code (code, product, kind) VALUES ({}, {}, 'trace')", prefix, other.id)
    found = await catalog.resolve_code(code)
    assert found.product.sku == catalog.demo_sku(6)  # the prefix is known: the traceability reading wins
    assert (found.scan.kind, found.scan.traceability_code) == ("traceability", code)
    both = await catalog.resolve_codes([code, "01" + gtin + "9199"])  # (91) 99: prefix known too
    assert [f.product.sku for f in both] == [catalog.demo_sku(6)] * 2


async def test_20_digits_that_read_both_ways_and_name_nothing_say_both(demo: int) -> None:
    code = "0106901234567892" + "2012"
    with pytest.raises(NotFound) as info:
        await catalog.resolve_code(code)
    assert info.value.message == (
        "No product has the barcode 6901234567892, nor the traceability prefix 0106901 (code 01069012345678922012)."
    )


async def test_sku_and_alias_resolve(demo: int) -> None:
    assert (await catalog.resolve_code(" YS00007 ")).product.generic_en == "cefdinir"
    assert (await catalog.resolve_code("ys00007")).scan is None
    product = await catalog.get_product("YS00007")
    await fetch("INSERT INTO product_code (code, product, kind) VALUES ({}, {}, 'alias')", "OLD-778", product.id)
    assert (await catalog.resolve_code("OLD-778")).product.sku == "YS00007"
    with pytest.raises(NotFound) as info:
        await catalog.resolve_code("YS99999")
    assert "YS99999" in info.value.message


async def test_bad_check_digit_is_a_bad_scan_and_unknown_gtin_is_not_found(demo: int) -> None:
    with pytest.raises(BadScan) as bad:
        await catalog.resolve_code("6901234567890")
    assert "check digit" in bad.value.message
    with pytest.raises(BadScan):
        await catalog.resolve_code("阿莫西林")
    with pytest.raises(NotFound) as info:
        await catalog.resolve_code("6901234567892")
    assert "6901234567892" in info.value.message


async def test_a_sale_resolves_all_its_codes_at_once_each_with_its_own_answer(demo: int) -> None:
    product = await catalog.get_product("YS00007")
    await fetch("INSERT INTO product_code (code, product, kind) VALUES ({}, {}, 'alias')", "OLD-778", product.id)
    trace = catalog.demo_trace_prefix(5) + "0012345678901"
    codes = [catalog.demo_gtin(3), "ys00007", "OLD-778", trace, "6901234567890", "6901234567892", catalog.demo_gtin(3)]
    found = await catalog.resolve_codes(codes)
    assert [f.product.sku for f in found[:4]] == ["YS00003", "YS00007", "YS00007", "YS00005"]
    assert found[3].scan is not None and found[3].scan.traceability_code == trace
    assert isinstance(found[4], BadScan) and "check digit" in found[4].message
    assert isinstance(found[5], NotFound) and "6901234567892" in found[5].message
    assert found[6].product.sku == "YS00003"  # the same code twice: the same product twice
    assert sorted(found[0].product.codes) == sorted((await catalog.resolve_code(catalog.demo_gtin(3))).product.codes)
    assert await catalog.resolve_codes([]) == []


async def test_get_product_and_products_by_ids(demo: int) -> None:
    with pytest.raises(NotFound) as info:
        await catalog.get_product("YS12345")
    assert "YS12345" in info.value.message
    a, b = await catalog.get_product("YS00001"), await catalog.get_product("YS00002")
    found = await catalog.products_by_ids([a.id, b.id, a.id, 999999])
    assert set(found) == {a.id, b.id}
    assert found[b.id].generic_en == "amoxicillin/clavulanate"
    assert await catalog.products_by_ids([]) == {}
