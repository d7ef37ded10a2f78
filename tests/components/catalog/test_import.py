"""The catalog import (CSV and XLSX): rows reported, idempotent, an export imports back unchanged."""

from __future__ import annotations

import io

import pytest

from app.components import catalog
from app.components.audit import log as audit
from app.components.core.errors import ValidationFailed
from app.components.imports import product_import as catalog_import
from tests.components.catalog.catalog_data import CATALOG_CSV, _chunks
from tests.conftest import actor


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


async def test_exported_catalog_imports_back_unchanged(demo: int) -> None:
    exported = await catalog_import.export_products_csv()
    lines = exported.decode("utf-8-sig").splitlines()
    assert len(lines) == demo + 1 and lines[0].startswith("SKU,")
    job = await catalog_import.import_products(await actor("admin"), "catalog.csv", _chunks(exported))
    assert (job.accepted, job.updated, job.unchanged, job.rejected) == (0, 0, demo, 0)
