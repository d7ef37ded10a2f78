"""Shared test helpers for the catalog: a product input, a GS1 expiry a year ahead, an upload in chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

from app.components import catalog


def _expiry_in_a_year() -> tuple[str, date]:
    """A (17) value about a year from today and the date it stands for: no test pins the year it runs in."""
    expiry = date.today() + timedelta(days=400)
    return expiry.strftime("%y%m%d"), expiry


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
