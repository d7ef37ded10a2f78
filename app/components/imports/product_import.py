"""Catalog import from .csv/.xlsx: each row validated like the product form, upserted by SKU, with a row report.

Catalogs are small (thousands of rows), so a file is imported at once, in chunks of one transaction each,
while the upload waits. It shares the member import's file reading, job row (`import_job`, kind "catalog"),
job folder and job view; re-importing a file changes nothing (rows count as unchanged).
"""

from __future__ import annotations

import codecs
import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

from app.components import audit, catalog
from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.components.imports import queries
from app.components.imports.jobs import (
    RETENTION_DAYS,
    Counts,
    ImportJobView,
    error_label,
    job_dir,
    job_of_kind,
    jobs_of_kind,
    mark_failed,
)
from app.components.imports.reading import (
    Column,
    csv_line,
    data_rows,
    header_keys,
    read_header,
    save_upload,
    upload_name,
)
from app.db import transaction
from app.i18n import _

KIND = "catalog"
CHUNK = 500
IMPORT_AUDIT = "catalog.import"
COLUMNS = (
    Column("sku", "商品编码", "SKU", ("货号", "商品编号", "编码", "item code")),
    Column("name_zh", "商品名称", "Name (Chinese)", ("名称", "品名", "中文名", "name", "name zh")),
    Column("name_en", "英文名称", "Name (English)", ("英文名", "name en")),
    Column("generic_zh", "通用名", "Generic name (Chinese)", ("通用名称", "generic zh")),
    Column("generic_en", "英文通用名", "Generic name (English)", ("generic name", "generic en", "inn")),
    Column("atc", "ATC编码", "ATC code", ("atc", "atc代码")),
    Column("allergen_classes", "过敏类别", "Allergen classes", ("致敏类别", "allergen class", "allergens")),
    Column("substance", "活性成分", "Active substance", ("成分", "substance")),
    Column("rx_class", "处方类别", "Rx class", ("处方分类", "rx/otc", "rx otc", "rx")),
    Column("category_l1", "一级分类", "Category", ("大类", "category l1", "category 1")),
    Column("category_l2", "二级分类", "Subcategory", ("小类", "category l2", "category 2")),
    Column("form", "剂型", "Dosage form", ("form",)),
    Column("price_yuan", "零售价", "Price (yuan)", ("售价", "价格", "单价", "price", "price yuan")),
    Column("price", "价格分", "Price in fen", ("price fen", "fen")),
    Column("pack_units", "包装数量", "Units per pack", ("每盒数量", "规格数量", "pack units", "pack size")),
    Column("units_per_day", "每日用量", "Units per day", ("日用量", "units per day")),
    Column("cold_chain", "冷链", "Cold chain", ("冷藏", "cold chain")),
    Column("dtp", "DTP", "DTP", ("dtp药品", "特药")),
    Column("points_excluded", "不积分", "Earns no points", ("points excluded", "no points")),
    Column("active", "在售", "Sold", ("启用", "active")),
    Column("gtins", "条码", "Barcodes", ("商品条码", "条形码", "gtin", "ean", "barcode", "gtins")),
    Column("trace_prefixes", "追溯码前缀", "Traceability prefixes", ("追溯码", "trace prefix", "trace prefixes")),
    Column("aliases", "其他编码", "Aliases", ("别名", "alias", "aliases")),
)
PRODUCT_COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
_INPUT_FIELDS = {f.name for f in fields(catalog.ProductInput)}


def map_header(cells: list[str]) -> list[str | None]:
    """The product field of each header cell (None for columns we ignore; the first of a repeat wins)."""
    return header_keys(cells, COLUMNS)


def product_column_help() -> list[tuple[str, str]]:
    """What each column accepts, in the current language."""
    yes_no = _("是/否 or yes/no; empty: unchanged (no for a new product)")
    return [
        ("sku", _("Required: capital letters and digits, starting with a letter (e.g. YS00001).")),
        ("name_zh", _("Required for a new product.")),
        ("name_en", _("Optional.")),
        ("generic_zh", _("Optional.")),
        ("generic_en", _("Optional; also the active substance when that column is empty.")),
        ("atc", _("WHO ATC code, e.g. J01CA04.")),
        ("allergen_classes", _("Allergen class codes separated by spaces, e.g. penicillins.")),
        ("substance", _("Matched against members' recorded allergies.")),
        ("rx_class", _("Rx, OTC or device; required for a new product.")),
        ("category_l1", _("Required for a new product: one of %(c)s.") % {"c": "、".join(catalog.CATEGORIES_L1)}),
        ("category_l2", _("One of %(c)s.") % {"c": "、".join(catalog.CATEGORIES_L2)}),
        ("form", _("tablet, capsule …")),
        ("price_yuan", _("Price in yuan, e.g. 12.50 (or give the price in fen).")),
        ("price", _("Price in fen, e.g. 1250.")),
        ("pack_units", _("Whole number, at least 1.")),
        ("units_per_day", _("Usual daily use in units; 0 when not daily.")),
        ("cold_chain", yes_no),
        ("dtp", yes_no),
        ("points_excluded", yes_no),
        ("active", yes_no),
        ("gtins", _("One or more GTIN/EAN barcodes separated by spaces; they replace the product's barcodes.")),
        ("trace_prefixes", _("First 7 digits of the drug traceability code; several separated by spaces.")),
        ("aliases", _("Other codes that name the product (old or supplier codes).")),
    ]


def product_template_csv() -> bytes:
    """The empty template: the header row in the current language (UTF-8 with BOM for Excel)."""
    return codecs.BOM_UTF8 + csv_line([c.label for c in COLUMNS])


def _row_input(cells: dict[str, str]) -> catalog.ProductInput:
    """A row as product input: an empty cell means "leave as it is"."""
    values = {k: v for k, v in cells.items() if k in _INPUT_FIELDS and v.strip()}
    return catalog.ProductInput(sku=values.pop("sku", ""), **values)


def _reason(errors: dict[str, str]) -> str:
    labels = {**{c.key: c.label for c in COLUMNS}, "knowledge": _("Knowledge card")}
    return "; ".join(f"{labels.get(k, k)}: {v}" for k, v in errors.items())


def _rejects_path(job_key: str) -> Path:
    return job_dir(job_key) / "rejected.csv"


async def _job(job_key: str) -> ImportJobView:
    job = await job_of_kind(job_key, KIND)
    if job is None:
        raise NotFound(_("No catalog import %(key)s.") % {"key": job_key})
    return job


async def product_import_job(job_key: str) -> ImportJobView:
    """One catalog import (HQ pages only, so no store scoping)."""
    return await _job(job_key)


async def recent_product_imports(limit: int = 10) -> list[ImportJobView]:
    """The latest catalog imports, newest first."""
    return await jobs_of_kind(KIND, limit)


async def import_products(actor: StaffUser, filename: str, chunks: AsyncIterator[bytes]) -> ImportJobView:
    """Store the upload, import every row and return the finished job (its counts and rejected rows)."""
    filename = upload_name(filename)
    key = uuid.uuid4().hex
    folder = job_dir(key)
    folder.mkdir(parents=True)
    source = folder / ("source.xlsx" if filename.lower().endswith(".xlsx") else "source.csv")
    sha = await save_upload(chunks, source)
    try:
        header = read_header(source)
    except ValueError:
        raise ValidationFailed({"file": error_label("unreadable")}) from None
    keys = map_header(header)
    if "sku" not in keys:
        raise ValidationFailed(
            {"file": _("The file has no SKU column. Download the template and keep its header row.")}
        )
    await queries.insert_job(key, KIND, None, actor.id, filename, sha, "running", datetime.now(UTC))
    try:
        await _run(key, actor, source, header, keys)
    except (OSError, UnicodeDecodeError, csv.Error):
        await mark_failed(key, "unreadable")
    finally:
        source.unlink(missing_ok=True)
    return await _job(key)


async def _run(key: str, actor: StaffUser, source: Path, header: list[str], keys: list[str | None]) -> None:
    positions = [(i, k) for i, k in enumerate(keys) if k]
    counts = Counts()
    report = io.StringIO()
    writer = csv.writer(report)
    writer.writerow([*header, _("reason")])
    processed = 0
    rows = data_rows(source, len(header))
    try:
        while True:
            batch = [row for _n, row in zip(range(CHUNK), rows, strict=False)]
            if not batch:
                break
            async with transaction():
                for row_no, cells in batch:
                    by_key = {k: cells[i] for i, k in positions}
                    try:
                        sku, values, codes = catalog.validate_input(_row_input(by_key))
                        outcome = await catalog.apply_product(sku, values, codes)
                    except ValidationFailed as exc:
                        counts.rejected += 1
                        writer.writerow([*cells, _("row %(n)s: ") % {"n": row_no} + _reason(exc.errors)])
                        continue
                    if outcome == "created":
                        counts.accepted += 1
                    elif outcome == "updated":
                        counts.updated += 1
                    else:
                        counts.unchanged += 1
                processed += len(batch)
                await queries.set_counts(
                    key, processed, counts.accepted, counts.updated, counts.unchanged, counts.rejected
                )
    finally:
        rows.close()
    if counts.rejected:
        _rejects_path(key).write_bytes(codecs.BOM_UTF8 + report.getvalue().encode("utf-8"))
    await queries.set_done(key, datetime.now(UTC))
    await audit.record(
        actor,
        IMPORT_AUDIT,
        detail=f"job={key} rows={processed} created={counts.accepted} updated={counts.updated}"
        f" unchanged={counts.unchanged} rejected={counts.rejected}",
    )


async def rejected_products_csv(job_key: str) -> bytes:
    """The rejected rows of an import with a reason column, to fix and import again."""
    job = await _job(job_key)
    path = _rejects_path(job.key)
    if not path.exists():
        raise NotFound(
            _("This import has no rejected rows (or they were deleted after %(days)s days).") % {"days": RETENTION_DAYS}
        )
    return path.read_bytes()


async def export_products_csv() -> bytes:
    """The whole catalog in the import's columns (price in yuan), to edit and import again."""
    page = await catalog.list_products(per_page=100)
    products = list(page.products)
    number = 1
    while page.has_next:  # a catalog is thousands of rows: a few pages of two queries each
        number += 1
        page = await catalog.list_products(page=number, per_page=100)
        products += page.products
    keys = [c.key for c in COLUMNS if c.key != "price"]
    lines = [csv_line([PRODUCT_COLUMN_BY_KEY[k].label for k in keys])]
    yes_no = {True: "是", False: "否"}
    for p in products:
        kinds: dict[str, list[str]] = {"gtin": [], "trace": [], "alias": []}
        for kind, code in p.code_kinds:
            kinds.setdefault(kind, []).append(code.removeprefix("0") if kind == "gtin" and len(code) == 14 else code)
        values = {
            **{k: getattr(p, k) for k in ("sku", "name_zh", "name_en", "generic_zh", "generic_en", "atc", "substance")},
            "allergen_classes": " ".join(p.allergen_classes),
            "rx_class": p.rx_class,
            "category_l1": p.category_l1,
            "category_l2": p.category_l2,
            "form": p.form,
            "price_yuan": f"{p.price // 100}.{p.price % 100:02d}",
            "pack_units": str(p.pack_units),
            "units_per_day": f"{p.units_per_day:g}",
            "cold_chain": yes_no[p.cold_chain],
            "dtp": yes_no[p.dtp],
            "points_excluded": yes_no[p.points_excluded],
            "active": yes_no[p.active],
            "gtins": " ".join(kinds["gtin"]),
            "trace_prefixes": " ".join(kinds["trace"]),
            "aliases": " ".join(kinds["alias"]),
        }
        lines.append(csv_line([values[k] for k in keys]))
    return codecs.BOM_UTF8 + b"".join(lines)
