"""Registration steps 2 and 3: what registration still lacks, health data after consent, preference tags."""

from __future__ import annotations

import pytest

from app.components import members
from app.components.core.errors import ValidationFailed
from app.db import fetch
from app.i18n import use_language
from tests.conftest import actor

# ---------------------------------------------------------------- what registration still lacks


async def test_gaps_until_each_step_is_answered() -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="吴十"), pharmacist)
    assert view.gaps == ["birth_date", "phone", "health", "consents"]
    assert view.next_step == "health"
    await members.save_health_step(view.member_no, members.HealthStep(consent=False), pharmacist)
    view = await members.get_member(view.member_no, pharmacist)
    assert view.gaps == ["birth_date", "phone", "consents"] and not view.consent_health
    assert view.next_step == "preferences"
    await members.save_preferences_step(view.member_no, members.PreferencesStep(marketing_sms=True), pharmacist)
    view = await members.get_member(view.member_no, pharmacist)
    assert view.gaps == ["birth_date", "phone"] and view.next_step is None
    rows = await fetch("SELECT purpose, granted FROM consent_event WHERE member = {} ORDER BY purpose", view.id)
    assert [(r["purpose"], bool(r["granted"])) for r in rows] == [
        ("health_data", False),
        ("kiosk_display", False),
        ("marketing_sms", True),
        ("marketing_wechat", False),
    ]
    # Saving the same answers again appends nothing to the ledger.
    await members.save_preferences_step(view.member_no, members.PreferencesStep(marketing_sms=True), pharmacist)
    assert len(await fetch("SELECT id FROM consent_event WHERE member = {}", view.id)) == 4


async def test_health_step_without_consent_stores_nothing_and_says_why() -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="郑一"), pharmacist)
    step = members.HealthStep(consent=False, allergy_status="none", conditions=["hypertension"], height_cm="170")
    with use_language("en"), pytest.raises(ValidationFailed) as info:
        await members.save_health_step(view.member_no, step, pharmacist)
    assert "consent" in info.value.errors["consent"]
    for table in ("consent_event", "member_condition", "vital"):
        assert await fetch(f"SELECT id FROM {table}") == []
    assert (await members.get_member(view.member_no, pharmacist)).allergy_status == "unknown"


async def test_health_step_with_consent_stores_allergy_conditions_and_vitals_together() -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="王二"), pharmacist)
    step = members.HealthStep(
        consent=True,
        allergy_status="has_allergies",
        allergy=members.NewAllergy(allergen_class="penicillins", criticality="high"),
        conditions=["hypertension", "diabetes"],
        height_cm="172",
        weight_kg="70.5",
    )
    await members.save_health_step(view.member_no, step, pharmacist)
    view = await members.get_member(view.member_no, pharmacist)
    assert view.consent_health and view.allergy_status == "has_allergies"
    assert [a.allergen_class for a in view.allergies] == ["penicillins"]
    codes = await fetch("SELECT code, source FROM member_condition WHERE member = {} ORDER BY code", view.id)
    assert [(r["code"], r["source"]) for r in codes] == [("diabetes", "declared"), ("hypertension", "declared")]
    vitals = await fetch("SELECT kind FROM vital WHERE member = {} ORDER BY kind", view.id)
    assert [r["kind"] for r in vitals] == ["height", "weight"]


async def test_health_step_is_all_or_nothing() -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="冯三"), pharmacist)
    step = members.HealthStep(consent=True, allergy_status="none", conditions=["hypertension"], height_cm="17000")
    with pytest.raises(ValidationFailed) as info:
        await members.save_health_step(view.member_no, step, pharmacist)
    assert set(info.value.errors) == {"height_cm"}
    for table in ("consent_event", "member_condition", "vital"):
        assert await fetch(f"SELECT id FROM {table}") == []
    bad = members.HealthStep(consent=True, conditions=["unobtainium"], allergy_status="has_allergies")
    with pytest.raises(ValidationFailed) as info:
        await members.save_health_step(view.member_no, bad, pharmacist)
    assert set(info.value.errors) == {"conditions", "allergen_class"}


async def test_preferences_step_validates_tags() -> None:
    pharmacist = await actor()
    view = await members.register(members.NewMember(name="陈四"), pharmacist)
    step = members.PreferencesStep(preferences={"dosage_form": ["tablet", "lozenge"], "brand": ["同仁堂"]})
    with pytest.raises(ValidationFailed) as info:
        await members.save_preferences_step(view.member_no, step, pharmacist)
    assert set(info.value.errors) == {"dosage_form"}
    step.preferences["dosage_form"] = ["tablet"]
    await members.save_preferences_step(view.member_no, step, pharmacist)
    rows = await fetch("SELECT kind, value FROM member_preference WHERE member = {} ORDER BY kind", view.id)
    assert [(r["kind"], r["value"]) for r in rows] == [("brand", "同仁堂"), ("dosage_form", "tablet")]
    assert members.split_brands("同仁堂，云南白药、 Bayer;") == ["同仁堂", "云南白药", "Bayer"]
