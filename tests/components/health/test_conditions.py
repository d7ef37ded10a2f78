"""Conditions: the vocabulary and its ATC inference rules, declared, confirmed, resolved, never doubled."""

from __future__ import annotations

import csv

import pytest

from app.components import health, members
from app.components.core.errors import NotFound, ValidationFailed
from app.components.health import conditions
from app.components.timeline import stream as timeline
from app.db import fetch
from app.i18n import use_language
from tests.components.health.health_data import count as _count
from tests.components.health.health_data import new_member as _member
from tests.conftest import actor

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
    with open(conditions.DATA / "condition_inference.csv", encoding="utf-8") as fh:
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
    rule = conditions.rule_for_atc(atc)
    assert (rule.condition if rule else None) == condition


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
