"""Printouts: the personalised medication guidance slip, and the chain's counter settings (restricted returns,
print paper) that HQ sets."""

from __future__ import annotations

import pytest

from app.components import members, sales
from app.components.audit import log as audit
from app.components.core.errors import ValidationFailed
from app.components.sales import chain_settings, guidance
from app.db import fetch
from app.i18n import use_language
from tests.components.sales.sale_data import make_member, make_products, request, stock_in
from tests.conftest import actor

COTRIMOXAZOLE = "YS90010"


async def _cotrimoxazole() -> None:
    """Co-trimoxazole, a sulfonamide antibiotic (its knowledge card: "not for people allergic to sulfonamides")."""
    await fetch(
        "INSERT INTO product (sku, name_zh, name_en, generic_zh, generic_en, atc, allergen_classes, substance,"
        " rx_class, category_l1, category_l2, form, price, pack_units, units_per_day, cold_chain, dtp,"
        " points_excluded, knowledge, active, created_at, updated_at)"
        " VALUES ({}, '复方磺胺甲噁唑片 24片', 'Co-trimoxazole tablets ×24', '复方磺胺甲噁唑片',"
        " 'sulfamethoxazole/trimethoprim', 'J01EE01', 'sulfonamide_antibiotics', 'sulfamethoxazole', 'OTC', '', '',"
        " 'tablet', 1200, 24, 4, {}, {}, {}, {}, {}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        COTRIMOXAZOLE,
        False,
        False,
        False,
        "{}",
        True,
    )
    await stock_in(COTRIMOXAZOLE, 10, "S1")


@pytest.fixture
async def overridden() -> str:
    """A sulfonamide-allergic member's sale of co-trimoxazole (high alert, overridden) and vitamin C, by a clerk."""
    await make_products()
    await stock_in("YS90007", 10, "V1")
    await _cotrimoxazole()
    member_no = await make_member("孙磺", ())
    await members.add_allergy(
        member_no,
        members.NewAllergy(allergen_class="sulfonamide_antibiotics", criticality="high", reaction="rash"),
        await actor(),
    )
    pharmacist = (await actor("pharmacist")).id
    override = sales.Override(reason="过敏史为多年前轻度皮疹，医生评估后处方", approved_by=pharmacist)
    lines = [(COTRIMOXAZOLE, 1), ("YS90007", 1)]
    req = await request("sulfa", member_no=member_no, lines=lines, tenders=[("cash", 2190)], override=override)
    return (await sales.record_sale(req, await actor("clerk"))).sale.sale_no


async def test_the_slip_prints_the_override_beside_the_contraindication_it_contradicts(overridden) -> None:
    await fetch("UPDATE store SET phone = '021-6288 0001' WHERE code = 'SH001'")
    clerk = await actor("clerk")
    with use_language("en"):
        slip = await guidance.guidance_slip(overridden, clerk)
    sulfa, vitamin = slip.items
    assert "sulfonamides" in sulfa.card.contraindications
    # Fails on the old code: the slip said nothing beside "not for people allergic to sulfonamides".
    [note] = sulfa.notes
    assert note.kind == "override" and note.allergy.allergen_class == "sulfonamide_antibiotics"
    assert "过敏史为多年前轻度皮疹" in note.text and "王药师" in note.text and "high risk" in note.text
    assert vitamin.notes == []
    assert [a.allergen_class for a in slip.allergies or []] == ["sulfonamide_antibiotics"]
    assert slip.pharmacist_name == "王药师"  # the pharmacist who overrode, not the clerk who sold
    assert slip.sale.store_phone == "021-6288 0001"
    # The generic name once: the Chinese name already says it, the English one does not.
    assert sulfa.generic == "sulfamethoxazole/trimethoprim"
    with use_language("zh_CN"):
        assert (await guidance.guidance_slip(overridden, clerk)).items[0].generic == ""
    # Reading the member's allergies for the slip is audited.
    views = await fetch("SELECT detail FROM audit_event WHERE action = {} AND staff = {}", audit.ALLERGY_VIEW, clerk.id)
    assert [v["detail"] for v in views] == [f"guidance:{overridden}", f"guidance:{overridden}"]


async def test_a_caution_is_noted_and_a_walk_in_slip_reads_no_allergies(overridden) -> None:
    await fetch("UPDATE store SET phone = '' WHERE code = 'SH001'")
    member_no = await make_member("钱谨", ())
    await members.add_allergy(
        member_no, members.NewAllergy(allergen_class="penicillins", criticality="low", reaction="rash"), await actor()
    )
    await stock_in("YS90003", 5, "C1")  # cefuroxime: a penicillin allergy cautions on a cephalosporin
    rx = sales.Prescription(number="RX9", hospital="华山医院", verified_by=(await actor("pharmacist")).id)
    req = await request("cef", member_no=member_no, lines=[("YS90003", 1)], prescription=rx)
    sale = (await sales.record_sale(req, await actor("pharmacist"))).sale
    slip = await guidance.guidance_slip(sale.sale_no, await actor("pharmacist"))
    [note] = slip.items[0].notes
    assert note.kind == "caution" and note.allergy.allergen_class == "penicillins"
    walk_in = (await sales.record_sale(await request("walk"), await actor())).sale
    before = (await fetch("SELECT COUNT(*) AS n FROM audit_event"))[0]["n"]
    plain = await guidance.guidance_slip(walk_in.sale_no, await actor("pharmacist"))
    assert plain.allergies is None and plain.items[0].notes == [] and plain.pharmacist_name == "王药师"
    assert (await fetch("SELECT COUNT(*) AS n FROM audit_event"))[0]["n"] == before


def test_generic_once() -> None:
    assert guidance.generic_once("阿莫西林胶囊 24粒", "阿莫西林胶囊") == ""
    assert guidance.generic_once("Amoxicillin capsules ×24", "amoxicillin") == ""
    assert guidance.generic_once("拜新同", "硝苯地平控释片") == "硝苯地平控释片"
    assert guidance.generic_once("x", " ") == ""


async def test_chain_settings_default_parse_and_only_hq_saves_them_audited() -> None:
    assert await chain_settings.counter_settings() == chain_settings.CounterSettings("manager_pin", "80", "80")
    with pytest.raises(ValidationFailed) as err:
        chain_settings.parse_form({"restricted_returns": "maybe", "receipt_paper": "a4", "slip_paper": "a4"})
    assert set(err.value.errors) == {"restricted_returns", "receipt_paper"}
    new = chain_settings.parse_form({"restricted_returns": "refuse", "receipt_paper": "58", "slip_paper": "a4"})
    with pytest.raises(chain_settings.NotAllowed):
        await chain_settings.save_counter_settings(new, await actor("manager"))
    assert await chain_settings.save_counter_settings(new, await actor("admin")) == [
        "restricted_returns",
        "receipt_paper",
        "slip_paper",
    ]
    assert await chain_settings.counter_settings() == new
    assert await chain_settings.save_counter_settings(new, await actor("admin")) == []
    logged = await fetch("SELECT detail FROM audit_event WHERE action = {}", chain_settings.CHANGE_ACTION)
    assert len(logged) == 1 and "restricted_returns: manager_pin → refuse" in logged[0]["detail"]
    # A stored value no longer offered reads as the default.
    assert chain_settings.settings_from('{"receipt_paper": "a4", "x": 1}') == chain_settings.CounterSettings()
