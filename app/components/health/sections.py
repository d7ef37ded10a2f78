"""The health and vitals sections' read models, each view audited, and the section's allergy changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.components import allergies, audit, timeline
from app.components.core.actor import StaffUser
from app.components.health.charts import Chart, bp_chart, glucose_chart
from app.components.health.conditions import ConditionView, conditions
from app.components.health.preferences import PreferenceView, preferences
from app.components.health.shared import member as member_by_no
from app.components.health.thresholds import CHART_DAYS
from app.components.health.vitals import Bmi, VitalView, bmi_from, latest, vitals

# Audit actions.
HEALTH_VIEW = "health.view"
VITALS_VIEW = "vitals.view"
TIMELINE_VIEW = "timeline.view"


@dataclass
class VitalsRecord:
    """Everything the vitals section shows."""

    member_id: int
    member_no: str
    consent: bool
    latest: dict[str, VitalView]
    bmi: Bmi | None
    readings: list[VitalView]  # the last 12 months, newest first
    charts: list[Chart]


async def vitals_record(member_no: str, actor: StaffUser, detail: str = "profile") -> VitalsRecord:
    """The member's vitals of the last 12 months with the latest readings, BMI and charts; audited."""
    member = await member_by_no(member_no)
    now = datetime.now(UTC)
    readings = await vitals(member["id"], since=now - timedelta(days=CHART_DAYS))
    latest_readings = await latest(member["id"])
    await audit.record(actor, VITALS_VIEW, member_id=member["id"], detail=detail)
    return VitalsRecord(
        member_id=member["id"],
        member_no=member["member_no"],
        consent=bool(member["consent_health"]),
        latest=latest_readings,
        bmi=bmi_from(latest_readings),
        readings=readings,
        charts=[bp_chart(readings, now), glucose_chart(readings, now)],
    )


@dataclass
class HealthRecord:
    """Everything the health section shows."""

    member_id: int
    member_no: str
    consent: bool
    allergy_status: str
    allergy_status_by: str | None
    allergy_status_at: datetime | None
    allergies: list[allergies.AllergyRecord]
    conditions: list[ConditionView]
    preferences: dict[str, list[PreferenceView]]

    @property
    def active_codes(self) -> set[str]:
        return {c.code for c in self.conditions if c.status == "active"}


async def health_record(member_no: str, actor: StaffUser, detail: str = "profile") -> HealthRecord:
    """Allergies (every status), conditions and preferences of a member; audited."""
    member = await member_by_no(member_no)
    status = await allergies.allergy_status_of(member["id"])
    record = HealthRecord(
        member_id=member["id"],
        member_no=member["member_no"],
        consent=bool(member["consent_health"]),
        allergy_status=member["allergy_status"],
        allergy_status_by=status["status_by"],
        allergy_status_at=status["allergy_status_at"],
        allergies=await allergies.allergy_records(member["id"]),
        conditions=await conditions(member["id"]),
        preferences=await preferences(member["id"]),
    )
    await audit.record(actor, HEALTH_VIEW, member_id=member["id"], detail=detail)
    return record


async def member_timeline(member_no: str, actor: StaffUser, limit: int = 100) -> list[timeline.TimelineEvent]:
    """The member's timeline (it names health events, so the view is audited)."""
    member = await member_by_no(member_no)
    events = await timeline.events(member["id"], limit=max(1, min(int(limit), 500)))
    await audit.record(actor, TIMELINE_VIEW, member_id=member["id"])
    return events


async def change_allergy(
    member_no: str, allergy_id: int | str, change: str, actor: StaffUser
) -> allergies.AllergyRecord:
    """Resolve, refute, mark entered-in-error or reactivate an allergy from the health section (see
    `allergies.change_allergy`: when the last active one goes, the status returns to `unknown`)."""
    member = await member_by_no(member_no)
    return await allergies.change_allergy(member["id"], allergy_id, change, actor)
