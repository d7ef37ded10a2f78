"""The consent gate every health module shares: without it nothing is stored, and the reason is given."""

from __future__ import annotations

import pytest

from app.components import health, members
from app.components.core.errors import ValidationFailed
from app.db import fetch
from app.i18n import use_language
from tests.components.health.health_data import count as _count
from tests.components.health.health_data import new_member as _member
from tests.conftest import actor

# ---------------------------------------------------------------- consent gate


async def test_without_health_consent_nothing_is_stored_and_the_reason_is_given() -> None:
    pharmacist = await actor()
    member_no = await _member(consent=False)
    attempts = [
        health.record_vital(member_no, health.NewVital(kind="weight", weight_kg="70"), pharmacist),
        health.add_condition(member_no, health.NewCondition(code="diabetes"), pharmacist),
        members.add_allergy(member_no, members.NewAllergy(allergen_class="penicillins"), pharmacist),
        members.record_no_known_allergies(member_no, pharmacist),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationFailed) as info, use_language("en"):
            await attempt
        assert "consent" in info.value.errors[("consent")].lower()
    for table in ("vital", "member_condition", "allergy"):
        assert await _count(table) == 0
    status = await fetch("SELECT allergy_status FROM member WHERE member_no = {}", member_no)
    assert status[0]["allergy_status"] == "unknown"
    mid = await members.member_id(member_no)
    assert await health.infer_conditions_from_atc(mid, ["A10BA02"], pharmacist) == []
    assert await _count("member_condition") == 0


async def test_a_consent_error_comes_with_the_field_errors() -> None:
    member_no = await _member(consent=False)
    with pytest.raises(ValidationFailed) as info:
        await health.record_vital(member_no, health.NewVital(kind="bp", systolic="999"), await actor())
    assert {"consent", "systolic", "diastolic"} <= set(info.value.errors)
