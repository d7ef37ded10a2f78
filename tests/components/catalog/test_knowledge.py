"""Drug facts: every demo product has a full knowledge card; the most specific reference and own texts win."""

from __future__ import annotations

from app.components import catalog
from app.i18n import use_language
from tests.conftest import actor


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
