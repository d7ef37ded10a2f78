"""The health archive: vocabulary, consent gate, conditions and inference, vitals validation/flags/BMI, charts."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta

import pytest

from app.components.audit import log as audit
from app.components.core.errors import NotFound, ValidationFailed
from app.components.health import archive as health
from app.components.members import profile as members
from app.components.timeline import stream as timeline
from app.db import fetch
from app.i18n import use_language
from tests.conftest import actor, grant_health_consent


async def _member(name: str = "周健", consent: bool = True) -> str:
    view = await members.register(members.NewMember(name=name), await actor())
    if consent:
        await grant_health_consent(view.member_no)
    return view.member_no


async def _count(table: str) -> int:
    return (await fetch(f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"]


# ---------------------------------------------------------------- vocabulary


def test_the_vocabulary_has_every_required_and_inferred_condition_with_both_labels() -> None:
    required = {
        "hypertension",
        "diabetes",
        "dyslipidemia",
        "asthma_copd",
        "gout",
        "coronary_heart_disease",
        "ckd",
        "hypothyroidism",
        "osteoporosis",
        "hepatitis_b",
        "cancer",
        "pregnancy",
        "lactation",
        "paediatric",
        "elderly_polypharmacy",
        "cardiovascular_prevention",
        "autoimmune",
    }
    with open(health.DATA / "condition_inference.csv", encoding="utf-8") as fh:
        inferred = {row["condition_code"] for row in csv.DictReader(fh)}
    assert required | inferred <= set(health.CONDITIONS)
    with use_language("en"):
        assert health.CONDITIONS["ckd"].label == "Chronic kidney disease"
        assert str(health.CONDITIONS["diabetes"]) == "Diabetes"
    with use_language("zh_CN"):
        assert health.CONDITIONS["diabetes"].label == "糖尿病"


@pytest.mark.parametrize(
    ("atc", "condition"),
    [
        ("C09AA05", "hypertension"),
        ("c08ca01", "hypertension"),
        ("C03AA03", "hypertension"),
        ("C03CA01", None),  # loop diuretics are not in the rules: only C03A
        ("A10BA02", "diabetes"),
        ("B01AC06", "cardiovascular_prevention"),
        ("H03AA01", "hypothyroidism"),
        ("N02BE01", None),
        ("", None),
    ],
)
def test_atc_prefix_rules(atc: str, condition: str | None) -> None:
    rule = health.rule_for_atc(atc)
    assert (rule.condition if rule else None) == condition


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


# ---------------------------------------------------------------- conditions


async def test_declared_condition_is_confirmed_by_a_pharmacist_and_resolved() -> None:
    pharmacist, clerk = await actor(), await actor("clerk")
    member_no = await _member()
    view = await health.add_condition(member_no, health.NewCondition(code="gout", onset="2019", note="右脚"), clerk)
    assert (view.code, view.source, view.status, view.onset.isoformat(), view.note) == (
        "gout",
        "declared",
        "active",
        "2019-01-01",
        "右脚",
    )
    assert view.recorded_by == "李店员" and view.confirmed_by is None
    with pytest.raises(ValidationFailed):
        await health.confirm_condition(member_no, view.id, clerk)
    confirmed = await health.confirm_condition(member_no, view.id, pharmacist)
    assert confirmed.source == "confirmed" and confirmed.confirmed_by == "王药师" and confirmed.confirmed_at
    resolved = await health.resolve_condition(member_no, view.id, clerk)
    assert resolved.status == "resolved" and resolved.resolved_by == "李店员"
    kinds = await fetch("SELECT kind, ref FROM member_event WHERE kind = 'condition' ORDER BY id")
    assert len(kinds) == 3
    with pytest.raises(NotFound):
        await health.resolve_condition(member_no, 999999, clerk)


async def test_only_a_pharmacist_may_add_a_condition_as_confirmed() -> None:
    member_no = await _member()
    with pytest.raises(ValidationFailed) as info:
        await health.add_condition(member_no, health.NewCondition(code="ckd", source="confirmed"), await actor("clerk"))
    assert "source" in info.value.errors
    view = await health.add_condition(member_no, health.NewCondition(code="ckd", source="confirmed"), await actor())
    assert view.source == "confirmed" and view.confirmed_by == "王药师"


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (health.NewCondition(code=""), "code"),
        (health.NewCondition(code="lycanthropy"), "code"),
        (health.NewCondition(code="gout", source="rumour"), "source"),
        (health.NewCondition(code="gout", onset="last spring"), "onset"),
        (health.NewCondition(code="gout", onset="2999-01-01"), "onset"),
        (health.NewCondition(code="gout", note="x" * 201), "note"),
    ],
)
async def test_condition_validation(entry: health.NewCondition, field: str) -> None:
    member_no = await _member()
    with pytest.raises(ValidationFailed) as info:
        await health.add_condition(member_no, entry, await actor())
    assert field in info.value.errors
    assert await _count("member_condition") == 0


async def test_the_same_condition_is_never_doubled_but_a_stronger_source_upgrades_it() -> None:
    pharmacist = await actor()
    member_no = await _member()
    mid = await members.member_id(member_no)
    inferred = await health.infer_conditions_from_atc(mid, ["C09AA05", "A10BA02", "N02BE01"], None)
    assert {(c.code, c.source, c.evidence) for c in inferred} == {
        ("hypertension", "inferred", "C09AA05"),
        ("diabetes", "inferred", "A10BA02"),
    }
    assert {c.confidence for c in inferred} == {"likely"}
    assert await health.infer_conditions_from_atc(mid, ["C08CA01", "A10BB12"], None) == []
    declared = await health.add_condition(member_no, health.NewCondition(code="hypertension"), pharmacist)
    assert declared.source == "declared" and declared.evidence == "C09AA05"
    again = await health.add_condition(member_no, health.NewCondition(code="hypertension"), pharmacist)
    assert again.id == declared.id
    rows = await fetch("SELECT code, source FROM member_condition ORDER BY code")
    assert rows == [{"code": "diabetes", "source": "inferred"}, {"code": "hypertension", "source": "declared"}]


async def test_a_dismissed_inference_does_not_come_back() -> None:
    member_no = await _member()
    mid = await members.member_id(member_no)
    (diabetes,) = await health.infer_conditions_from_atc(mid, ["A10BA02"], await actor())
    await health.resolve_condition(member_no, diabetes.id, await actor())
    assert await health.infer_conditions_from_atc(mid, ["A10BA02"], await actor()) == []
    with use_language("zh_CN"):
        events = [e.summary for e in await timeline.events(mid) if e.kind == "condition"]
    assert events == ["健康状况已解除：糖尿病", "根据购药记录（A10BA02）推断健康状况：糖尿病"]


# ---------------------------------------------------------------- vitals


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (health.NewVital(), "kind"),
        (health.NewVital(kind="temperature"), "kind"),
        (health.NewVital(kind="bp", systolic="300", diastolic="80"), "systolic"),
        (health.NewVital(kind="bp", systolic="49", diastolic="30"), "systolic"),
        (health.NewVital(kind="bp", systolic="abc", diastolic="80"), "systolic"),
        (health.NewVital(kind="bp", systolic="120.5", diastolic="80"), "systolic"),
        (health.NewVital(kind="bp", systolic="120"), "diastolic"),
        (health.NewVital(kind="bp", systolic="120", diastolic="170"), "diastolic"),
        (health.NewVital(kind="bp", systolic="80", diastolic="90"), "diastolic"),
        (health.NewVital(kind="bp", systolic="120", diastolic="80", pulse="10"), "pulse"),
        (health.NewVital(kind="glucose", glucose="6.1"), "glucose_context"),
        (health.NewVital(kind="glucose", glucose="6.1", glucose_context="after_tea"), "glucose_context"),
        (health.NewVital(kind="glucose", glucose="61", glucose_context="fasting"), "glucose"),
        (health.NewVital(kind="glucose", glucose_context="fasting"), "glucose"),
        (health.NewVital(kind="weight", weight_kg="0.5"), "weight_kg"),
        (health.NewVital(kind="weight"), "weight_kg"),
        (health.NewVital(kind="height", height_cm="300"), "height_cm"),
        (health.NewVital(kind="weight", weight_kg="70", measured_at="yesterday"), "measured_at"),
        (health.NewVital(kind="weight", weight_kg="70", measured_at="2999-01-01T08:00"), "measured_at"),
        (health.NewVital(kind="weight", weight_kg="70", measured_at="2001-01-01"), "measured_at"),
    ],
)
async def test_vital_validation(entry: health.NewVital, field: str) -> None:
    member_no = await _member()
    with pytest.raises(ValidationFailed) as info:
        await health.record_vital(member_no, entry, await actor())
    assert field in info.value.errors, info.value.errors
    assert await _count("vital") == 0


def test_bound_messages_name_the_range_and_unit() -> None:
    with use_language("en"):
        errors, _ = health.validate_vital(health.NewVital(kind="bp", systolic="300", diastolic="80"))
    assert errors["systolic"] == "Systolic pressure must be between 50 and 260 mmHg."


@pytest.mark.parametrize(
    ("systolic", "diastolic", "flag"),
    [(140, 80, "high"), (139, 89, ""), (120, 90, "high"), (89, 70, "low"), (100, 59, "low"), (90, 60, "")],
)
def test_blood_pressure_flags(systolic: int, diastolic: int, flag: str) -> None:
    assert health.bp_flag(systolic, diastolic) == flag


@pytest.mark.parametrize(
    ("value", "context", "flag"),
    [
        (7.0, "fasting", "high"),
        (6.9, "fasting", ""),
        (11.1, "post_meal_2h", "high"),
        (11.0, "post_meal_2h", ""),
        (11.1, "random", "high"),
        (9.0, "random", ""),
        (3.8, "fasting", "low"),
        (3.9, "random", ""),
    ],
)
def test_glucose_flags(value: float, context: str, flag: str) -> None:
    assert health.glucose_flag(value, context) == flag


async def test_readings_are_stored_flagged_with_a_timeline_event_and_an_audit_row() -> None:
    pharmacist = await actor()
    member_no = await _member()
    (bp,) = await health.record_vital(
        member_no, health.NewVital(kind="bp", systolic=152, diastolic="96", pulse="78"), pharmacist
    )
    assert (bp.systolic, bp.diastolic, bp.pulse, bp.flag, bp.source) == (152, 96, 78, "high", "counter")
    (glucose,) = await health.record_vital(
        member_no, health.NewVital(kind="glucose", glucose="3,5", glucose_context="fasting"), pharmacist, source="kiosk"
    )
    assert (glucose.glucose, glucose.flag, glucose.source) == (3.5, "low", "kiosk")
    with use_language("en"):
        events = [e.summary for e in await timeline.events(await members.member_id(member_no)) if e.kind == "vital"]
    assert events == ["Blood glucose: 3.5 mmol/L (fasting) — low", "Blood pressure: 152/96 mmHg · pulse 78 — high"]
    assert await audit.count(health.VITAL_RECORD) == 2


async def test_bmi_from_the_latest_weight_and_height() -> None:
    pharmacist = await actor()
    member_no = await _member()
    mid = await members.member_id(member_no)
    assert await health.latest_bmi(mid) is None
    old = (datetime.now(UTC) - timedelta(days=40)).strftime("%Y-%m-%dT%H:%M")
    await health.record_vital(member_no, health.NewVital(weight_kg="90", measured_at=old), pharmacist)
    both = await health.record_vital(member_no, health.NewVital(weight_kg="70", height_cm="175"), pharmacist)
    assert [v.kind for v in both] == ["weight", "height"]
    result = await health.latest_bmi(mid)
    assert (result.value, result.category, result.weight_kg, result.height_cm) == (22.9, "normal", 70, 175)
    assert health.bmi(85, 170) == 29.4 and health.bmi_category(29.4) == "obese"
    assert health.bmi_category(24.0) == "overweight" and health.bmi_category(18.4) == "underweight"


async def test_the_same_reading_at_the_same_time_is_stored_once() -> None:
    member_no = await _member()
    entry = health.NewVital(kind="bp", systolic="130", diastolic="85", measured_at="2026-01-05T08:30")
    first = await health.record_vital(member_no, entry, await actor(), source="import")
    again = await health.record_vital(member_no, entry, await actor(), source="import")
    assert first[0].id == again[0].id and await _count("vital") == 1
    # A given local time without an offset is the chain's zone (Asia/Shanghai is UTC+8).
    assert first[0].measured_at == datetime(2026, 1, 5, 0, 30, tzinfo=UTC)


async def test_the_vitals_view_is_audited_and_charts_stay_in_the_plot() -> None:
    pharmacist = await actor()
    member_no = await _member()
    for days, sys_, dia in ((300, 150, 95), (100, 150, 80), (2, 118, 76)):
        at = (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")
        await health.record_vital(
            member_no, health.NewVital(kind="bp", systolic=sys_, diastolic=dia, measured_at=at), pharmacist
        )
    old = (datetime.now(UTC) - timedelta(days=400)).strftime("%Y-%m-%dT%H:%M")
    await health.record_vital(
        member_no, health.NewVital(kind="bp", systolic=125, diastolic=80, measured_at=old), pharmacist
    )
    await health.record_vital(member_no, health.NewVital(glucose="12.4", glucose_context="post_meal_2h"), pharmacist)
    before = await audit.count(health.VITALS_VIEW)
    record = await health.vitals_record(member_no, pharmacist)
    assert await audit.count(health.VITALS_VIEW) == before + 1
    assert len(record.readings) == 4  # the reading of 400 days ago is outside the 12 months
    assert record.latest["bp"].systolic == 118 and record.latest["glucose:post_meal_2h"].flag == "high"
    bp_chart, glucose_chart = record.charts
    systolic = next(s for s in bp_chart.series if s.key == "systolic")
    assert len(systolic.points) == 3 and systolic.points[0].flag == "high"
    xs = [p.x for p in systolic.points]
    assert xs == sorted(xs) and all(bp_chart.left <= x <= bp_chart.width - bp_chart.right for x in xs)
    ys = [p.y for s in bp_chart.series for p in s.points]
    assert all(bp_chart.top <= y <= bp_chart.height - bp_chart.bottom for y in ys)
    ref_140, ref_90 = (y for y, _ in bp_chart.references)
    assert ref_140 < ref_90  # higher values are drawn higher up
    assert systolic.points[0].y < ref_140 < systolic.points[2].y
    # Each line rings only its own out-of-range values: 150/80 is high systolic, normal diastolic.
    diastolic = next(s for s in bp_chart.series if s.key == "diastolic")
    assert [p.flag for p in systolic.points] == ["high", "high", ""]
    assert [p.flag for p in diastolic.points] == ["high", "", ""]
    assert [s.key for s in glucose_chart.series] == ["fasting", "post_meal_2h", "random"]
    assert len(bp_chart.x_ticks) >= 5 and not glucose_chart.empty


# ---------------------------------------------------------------- allergies and preferences


async def test_allergy_status_changes_keep_who_and_when_and_the_banner_state() -> None:
    pharmacist, clerk = await actor(), await actor("clerk")
    member_no = await _member()
    await members.add_allergy(member_no, members.NewAllergy(allergen_class="penicillins", criticality="high"), clerk)
    await members.add_allergy(member_no, members.NewAllergy(allergen_class="sulfonamide_antibiotics"), clerk)
    record = await health.health_record(member_no, pharmacist)
    by_class = {a.allergen_class: a for a in record.allergies}
    refuted = await health.change_allergy(member_no, by_class["sulfonamide_antibiotics"].id, "refute", pharmacist)
    assert (refuted.verification_status, refuted.active, refuted.changed_by) == ("refuted", False, "王药师")
    view = await members.get_member(member_no, pharmacist)
    assert [a.allergen_class for a in view.allergies] == ["penicillins"] and view.allergy_status == "has_allergies"
    resolved = await health.change_allergy(member_no, by_class["penicillins"].id, "resolve", pharmacist)
    assert resolved.clinical_status == "resolved" and resolved.changed_at is not None
    view = await members.get_member(member_no, pharmacist)
    assert view.allergies == [] and view.allergy_status == "unknown"  # the counter asks again
    with pytest.raises(ValidationFailed):
        await health.change_allergy(member_no, by_class["sulfonamide_antibiotics"].id, "reactivate", pharmacist)
    again = await health.change_allergy(member_no, by_class["penicillins"].id, "reactivate", pharmacist)
    assert again.active and (await members.get_member(member_no, pharmacist)).allergy_status == "has_allergies"
    with pytest.raises(ValidationFailed):
        await health.change_allergy(member_no, by_class["penicillins"].id, "forget", pharmacist)
    with pytest.raises(NotFound):
        await health.change_allergy(member_no, 999999, "resolve", pharmacist)
    events = await fetch("SELECT ref FROM member_event WHERE kind = 'allergy' ORDER BY id")
    assert len(events) == 3 and all(e["ref"].startswith("allergy-status:") for e in events)
    assert await audit.count(health.ALLERGY_CHANGE) == 3


async def test_preferences_are_coded_tags_added_once_and_removed() -> None:
    clerk = await actor("clerk")
    member_no = await _member(consent=False)  # preferences are not health data
    await health.add_preference(member_no, "channel", "wechat", clerk)
    await health.add_preference(member_no, "channel", "wechat", clerk)
    await health.add_preference(member_no, "brand", " 同仁堂 ", clerk)
    await health.add_preference(member_no, "contact_time", "evening", clerk)
    found = await health.preferences(await members.member_id(member_no))
    assert [p.value for p in found["channel"]] == ["wechat"]
    assert [p.value for p in found["brand"]] == ["同仁堂"]
    assert found["dosage_form"] == []
    for kind, value, field in (("colour", "red", "kind"), ("channel", "pigeon", "value"), ("brand", "", "value")):
        with pytest.raises(ValidationFailed) as info:
            await health.add_preference(member_no, kind, value, clerk)
        assert field in info.value.errors
    assert await health.remove_preference(member_no, "channel", "wechat", clerk)
    assert not await health.remove_preference(member_no, "channel", "wechat", clerk)
    assert await _count("member_preference") == 2
    assert len(await fetch("SELECT id FROM member_event WHERE kind = 'preference'")) == 4


async def test_the_health_view_is_audited_and_unknown_members_are_not_found() -> None:
    pharmacist = await actor()
    member_no = await _member()
    before = await audit.count(health.HEALTH_VIEW)
    record = await health.health_record(member_no, pharmacist)
    assert record.consent and record.allergy_status == "unknown"
    assert await audit.count(health.HEALTH_VIEW) == before + 1
    with pytest.raises(NotFound) as info:
        await health.health_record("8000009995", pharmacist)
    assert "8000009995" in info.value.message
    with pytest.raises(NotFound):
        await health.record_vital("8000009995", health.NewVital(weight_kg="70"), pharmacist)
