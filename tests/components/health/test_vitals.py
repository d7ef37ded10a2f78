"""Vitals: validation against plausible bounds, the flags' thresholds, BMI, a reading stored once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.components import health, members
from app.components.audit import log as audit
from app.components.core.errors import ValidationFailed
from app.components.health import thresholds, vitals
from app.components.timeline import stream as timeline
from app.i18n import use_language
from tests.components.health.health_data import count as _count
from tests.components.health.health_data import new_member as _member
from tests.conftest import actor

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
    assert thresholds.bp_flag(systolic, diastolic) == flag


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
    assert thresholds.glucose_flag(value, context) == flag


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
    assert await audit.count(vitals.VITAL_RECORD) == 2


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
    assert thresholds.bmi(85, 170) == 29.4 and thresholds.bmi_category(29.4) == "obese"
    assert thresholds.bmi_category(24.0) == "overweight" and thresholds.bmi_category(18.4) == "underweight"


async def test_the_same_reading_at_the_same_time_is_stored_once() -> None:
    member_no = await _member()
    entry = health.NewVital(kind="bp", systolic="130", diastolic="85", measured_at="2026-01-05T08:30")
    first = await health.record_vital(member_no, entry, await actor(), source="import")
    again = await health.record_vital(member_no, entry, await actor(), source="import")
    assert first[0].id == again[0].id and await _count("vital") == 1
    # A given local time without an offset is the chain's zone (Asia/Shanghai is UTC+8).
    assert first[0].measured_at == datetime(2026, 1, 5, 0, 30, tzinfo=UTC)
