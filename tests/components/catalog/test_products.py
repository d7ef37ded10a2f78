"""The catalog: demo products, resolving every kind of scanned code, search."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta

import pytest

from app.components.allergies import allergen_classes
from app.components.audit import log as audit
from app.components.catalog import products as catalog
from app.components.core.errors import NotFound, ValidationFailed
from app.components.imports import product_import as catalog_import
from app.components.scanning import GS, BadScan
from app.db import fetch, transaction
from app.i18n import use_language
from tests.conftest import actor


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages and names are matched in English (the source language)."""
    with use_language("en"):
        yield


@pytest.fixture
async def demo() -> int:
    return await catalog.seed_demo_catalog()


def test_demo_data_uses_known_vocabularies() -> None:
    known = allergen_classes()
    rows = catalog.demo_rows()
    assert len(rows) >= 60
    for row in rows:
        for code in row["allergen_class"].split():
            assert code in known, code
        assert row["rx_otc"] in catalog.RX_CLASSES
        assert row["category_l1"] in catalog.CATEGORIES_L1
        assert row["category_l2"] in catalog.CATEGORIES_L2
        assert not row["atc"] or catalog.ATC_RE.fullmatch(row["atc"]), row["atc"]
    assert any(row["rx_otc"] == "device" for row in rows)


async def test_seeding_is_idempotent_and_gives_every_row_a_product(demo: int) -> None:
    assert demo == len(catalog.demo_rows())
    assert await catalog.seed_demo_catalog() == 0
    rows = await fetch("SELECT count(*) AS n FROM product_code")
    assert rows[0]["n"] == 2 * demo
    again = await asyncio.gather(catalog.seed_demo_catalog(), catalog.seed_demo_catalog())
    assert again == [0, 0]


async def test_every_demo_gtin_resolves_as_ean13_and_gtin14(demo: int) -> None:
    for n, row in enumerate(catalog.demo_rows(), start=1):
        ean = catalog.demo_gtin(n)[1:]
        found = await catalog.resolve_code(ean)
        assert found.product.sku == catalog.demo_sku(n)
        assert found.product.generic_en == row["generic_en"]
        assert found.scan is not None and found.scan.gtin == catalog.demo_gtin(n)
        assert (await catalog.resolve_code(catalog.demo_gtin(n))).product.sku == catalog.demo_sku(n)


async def test_demo_product_carries_the_reference_data(demo: int) -> None:
    amox = await catalog.get_product(catalog.demo_sku(1))
    assert amox.generic_zh == "阿莫西林胶囊"
    assert amox.atc == "J01CA04"
    assert amox.allergen_classes == ("penicillins",)
    assert amox.substance == "amoxicillin"
    assert amox.rx_class == "Rx"
    assert amox.pack_units == 24 and amox.units_per_day == 3
    assert amox.days_supply == 8
    assert amox.price > 0
    assert amox.codes == (catalog.demo_gtin(1), catalog.demo_trace_prefix(1))
    assert amox.name == amox.name_en and "Amoxicillin" in amox.name
    with use_language("zh_CN"):
        assert (await catalog.get_product("ys00001")).name.startswith("阿莫西林胶囊")
    insulin = next(p for p in await catalog.search("insulin glargine") if p.generic_en == "insulin glargine")
    assert insulin.cold_chain and insulin.dtp and insulin.days_supply == 10
    monitor = (await catalog.search("blood pressure monitor"))[0]
    assert monitor.rx_class == "device" and monitor.days_supply is None


def _expiry_in_a_year() -> tuple[str, date]:
    """A (17) value about a year from today and the date it stands for: no test pins the year it runs in."""
    expiry = date.today() + timedelta(days=400)
    return expiry.strftime("%y%m%d"), expiry


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


async def test_every_demo_product_has_a_full_knowledge_card_in_both_languages(demo: int) -> None:
    products = await catalog.list_products(per_page=100)
    assert len(products.products) == demo
    for product in products.products:
        for language in ("zh_CN", "en"):
            with use_language(language):
                card = catalog.knowledge_card(product)
            assert card.source, product.sku
            assert card.indications and card.usage and card.counselling, (product.sku, language)
    with use_language("zh_CN"):
        card = catalog.knowledge_card(await catalog.get_product("YS00001"))
    assert card.source == "J01C" and "青霉素" in card.counselling


async def test_the_most_specific_atc_prefix_and_product_texts_win(demo: int) -> None:
    aspirin = next(p for p in await catalog.search("aspirin") if p.atc == "B01AC06")
    assert catalog.knowledge_card(aspirin).source == "B01AC06"
    clav = await catalog.get_product("YS00002")
    assert catalog.knowledge_card(clav).source == "J01C"
    await catalog.upsert_product(
        catalog.ProductInput(sku="YS00002", knowledge={"counselling": {"zh": "随餐服用。", "en": "Take with food."}}),
        await actor("admin"),
    )
    card = catalog.knowledge_card(await catalog.get_product("YS00002"))
    assert card.counselling == "Take with food."
    assert card.indications == catalog.knowledge_card(clav).indications  # the rest still from the reference


def _new(**changes: object) -> catalog.ProductInput:
    data = catalog.ProductInput(
        sku="ERP-100",
        name_zh="布洛芬混悬液 100ml",
        name_en="Ibuprofen suspension 100 ml",
        generic_en="Ibuprofen",
        atc="m01ae01",
        allergen_classes="nsaids",
        rx_class="otc",
        category_l1="Pain & fever",
        category_l2="西药",
        form="suspension",
        price="2350",
        pack_units="1",
        units_per_day="0",
        cold_chain="no",
        gtins="6912345000000 06912345000017",
        trace_prefixes="8700001",
    )
    for key, value in changes.items():
        setattr(data, key, value)
    return data


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


@pytest.mark.parametrize(
    ("field", "value", "part"),
    [
        ("sku", "12 34", "SKU"),
        ("gtins", "6900000000018", "GTIN"),
        ("atc", "J1", "ATC"),
        ("allergen_classes", "penicillins cats", "cats"),
        ("rx_class", "prescription", "Rx"),
        ("category_l1", "Snacks", "抗感染"),
        ("price", "-1", "fen"),
        ("price", "12.5", "fen"),
        ("price_yuan", "12.555", "yuan"),
        ("pack_units", "0", "at least 1"),
        ("units_per_day", "-2", "0 or more"),
        ("cold_chain", "maybe", "yes or no"),
        ("trace_prefixes", "123", "7"),
        ("name_zh", "", "Chinese name"),
    ],
)
async def test_create_rejects_bad_input_per_field(field: str, value: str, part: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        await catalog.upsert_product(_new(**{field: value}), await actor("admin"))
    assert field in info.value.errors and part in info.value.errors[field], info.value.errors
    assert await fetch("SELECT id FROM product") == []


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


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


CATALOG_CSV = (
    "商品编码,商品名称,处方类别,一级分类,零售价,条码,过敏类别,ATC编码,包装数量,每日用量,备注\n"
    "ERP-1,医用酒精棉片 100片,device,医疗器械,9.90,6912345000000,,,100,,new\n"
    "YS00001,,,,26.80,,,,,,price change\n"
    "ERP-2,坏条码,OTC,维矿物质,5,6900000000018,,,1,,bad gtin\n"
    "ERP-3,抢条码,OTC,维矿物质,5,{gtin1},,,1,,code of YS00001\n"
    "ERP-4,未知过敏,OTC,维矿物质,5,,cats,,1,,unknown allergen\n"
    ",无编码,OTC,维矿物质,5,,,,1,,no sku\n"
)


async def test_catalog_import_reports_rows_and_is_idempotent(demo: int) -> None:
    admin = await actor("admin")
    data = CATALOG_CSV.replace("{gtin1}", catalog.demo_gtin(1)[1:]).encode()
    job = await catalog_import.import_products(admin, "products.csv", _chunks(data))
    assert job.status == "done"
    report = (await catalog_import.rejected_products_csv(job.key)).decode("utf-8-sig").splitlines()
    assert (job.accepted, job.updated, job.unchanged, job.rejected) == (1, 1, 0, 4), report
    assert (await catalog.get_product("ERP-1")).price == 990
    assert (await catalog.resolve_code("6912345000000")).product.sku == "ERP-1"
    amox = await catalog.get_product("YS00001")
    assert amox.price == 2680 and amox.generic_en == "amoxicillin"  # empty cells kept the rest
    report = (await catalog_import.rejected_products_csv(job.key)).decode("utf-8-sig").splitlines()
    assert len(report) == 5 and report[0].endswith(",reason")
    assert "6900000000018" in report[1] and "YS00001" in report[2] and "cats" in report[3] and "SKU" in report[4]
    again = await catalog_import.import_products(admin, "products.csv", _chunks(data))
    assert (again.accepted, again.updated, again.unchanged, again.rejected) == (0, 0, 2, 4)
    assert await audit.count(catalog_import.IMPORT_AUDIT) == 2
    assert [j.key for j in await catalog_import.recent_product_imports()] == [again.key, job.key]


async def test_catalog_import_reads_xlsx_and_refuses_files_without_sku() -> None:
    from openpyxl import Workbook

    admin = await actor("admin")
    book = Workbook()
    book.active.append(["SKU", "Name (Chinese)", "Rx class", "Category", "Price in fen", "Barcodes", "Cold chain"])
    book.active.append(
        ["ERP-7", "胰岛素笔针头", "device", "Medical devices", 3500, "6912345000000 6912345000017", "否"]
    )
    buffer = io.BytesIO()
    book.save(buffer)
    job = await catalog_import.import_products(admin, "p.xlsx", _chunks(buffer.getvalue()))
    assert job.accepted == 1 and job.rejected == 0
    product = await catalog.get_product("ERP-7")
    assert product.category_l1 == "医疗器械" and product.price == 3500 and len(product.gtins) == 2
    with pytest.raises(ValidationFailed) as info:
        await catalog_import.import_products(admin, "p.csv", _chunks("名称,价格\n药,1\n".encode()))
    assert "SKU" in info.value.errors["file"]
    with pytest.raises(ValidationFailed):
        await catalog_import.import_products(admin, "p.txt", _chunks(b"x"))


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


async def test_exported_catalog_imports_back_unchanged(demo: int) -> None:
    exported = await catalog_import.export_products_csv()
    lines = exported.decode("utf-8-sig").splitlines()
    assert len(lines) == demo + 1 and lines[0].startswith("SKU,")
    job = await catalog_import.import_products(await actor("admin"), "catalog.csv", _chunks(exported))
    assert (job.accepted, job.updated, job.unchanged, job.rejected) == (0, 0, demo, 0)


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
