"""The health and vitals sections: audited views, charts that stay in the plot, unknown members not found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.components import health
from app.components.audit import log as audit
from app.components.core.errors import NotFound
from tests.components.health.health_data import new_member as _member
from tests.conftest import actor


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
