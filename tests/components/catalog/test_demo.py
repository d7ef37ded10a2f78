"""The demo catalog: known vocabularies, seeded once, with its reference data."""

from __future__ import annotations

import asyncio

from app.components import catalog
from app.components.allergies import allergen_classes
from app.components.catalog.products import ATC_RE
from app.db import fetch
from app.i18n import use_language


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
        assert not row["atc"] or ATC_RE.fullmatch(row["atc"]), row["atc"]
    assert any(row["rx_otc"] == "device" for row in rows)


async def test_seeding_is_idempotent_and_gives_every_row_a_product(demo: int) -> None:
    assert demo == len(catalog.demo_rows())
    assert await catalog.seed_demo_catalog() == 0
    rows = await fetch("SELECT count(*) AS n FROM product_code")
    assert rows[0]["n"] == 2 * demo
    again = await asyncio.gather(catalog.seed_demo_catalog(), catalog.seed_demo_catalog())
    assert again == [0, 0]


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
