"""The allergy record: recording a coded allergy or "no known allergies", changing one, reading them all.

Every write needs the member's health-data consent (reactivating too), keeps who and when, and updates the
member's allergy status in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.components import audit, consents, timeline
from app.components.allergies import queries
from app.components.allergies.vocabulary import (
    CATEGORIES,
    CLINICAL_STATUSES,
    CRITICALITIES,
    REACTIONS,
    SEVERITIES,
    VERIFICATION_STATUSES,
    allergen_classes,
    class_label,
    criticality_label,
    reaction_label,
    substance_label,
)
from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.db import as_datetime, transaction
from app.i18n import N_, _

ALLERGY_CHANGE = "allergy.change"


@dataclass
class NewAllergy:
    """A coded allergy as entered at the counter or sent by the API."""

    allergen_class: str = ""
    substance: str = ""
    category: str = ""
    criticality: str = "unable-to-assess"
    reaction: str = ""
    severity: str = ""
    verification_status: str = "unconfirmed"
    clinical_status: str = "active"
    note: str = ""


def validate_allergy(data: NewAllergy) -> dict[str, str]:
    """Field errors for an allergy entry."""
    errors: dict[str, str] = {}
    cls = allergen_classes().get(data.allergen_class or "")
    if cls is None:
        errors["allergen_class"] = _("Unknown allergen class %(code)s: choose one from the list.") % {
            "code": data.allergen_class or "—"
        }
    elif data.substance and data.substance not in {s[0] for s in cls.substances}:
        errors["substance"] = _("%(substance)s is not a substance of %(cls)s.") % {
            "substance": data.substance,
            "cls": cls.label,
        }
    if data.category and data.category not in CATEGORIES:
        errors["category"] = _("Unknown category.")
    if data.criticality not in CRITICALITIES:
        errors["criticality"] = _("Criticality must be low, high or unable-to-assess.")
    if data.reaction not in REACTIONS:
        errors["reaction"] = _("Unknown reaction.")
    if data.severity not in SEVERITIES:
        errors["severity"] = _("Severity must be mild, moderate or severe.")
    if data.verification_status not in VERIFICATION_STATUSES:
        errors["verification_status"] = _("Unknown verification status.")
    if data.clinical_status not in CLINICAL_STATUSES:
        errors["clinical_status"] = _("Clinical status must be active, inactive or resolved.")
    return errors


def status_after_change(active_allergies: int) -> str:
    """The member's allergy status once a change leaves `active_allergies` in force: none left means `unknown`
    (asked again at the counter), never `none` ("no known allergies" is only what a member said)."""
    return "has_allergies" if active_allergies else "unknown"


async def record_allergy(member_id: int, data: NewAllergy, actor: StaffUser) -> None:
    """Record a coded allergy after the health-data consent; the member's status becomes `has_allergies`."""
    await consents.require_health_consent(member_id)  # no health data without consent
    errors = validate_allergy(data)
    if errors:
        raise ValidationFailed(errors)
    cls = allergen_classes()[data.allergen_class]
    values = {
        "allergen_class": data.allergen_class,
        "substance": data.substance,
        "category": data.category or cls.category,
        "criticality": data.criticality,
        "reaction": data.reaction,
        "severity": data.severity,
        "verification_status": data.verification_status,
        "clinical_status": data.clinical_status,
        "note": data.note,
    }
    now = datetime.now(UTC)
    async with transaction():
        await queries.insert_allergy(member_id, values, actor.id, now)
        await queries.set_member_status(member_id, "has_allergies", actor.id, now)
        await audit.record(actor, audit.ALLERGY_RECORD, member_id=member_id, detail=data.allergen_class)


async def record_no_known_allergies(member_id: int, actor: StaffUser) -> None:
    """The member says they have no known allergies: recorded with who and when; refused while any is active."""
    await consents.require_health_consent(member_id)  # the allergy status is health data too
    if await queries.clinically_active_count(member_id):
        raise ValidationFailed(
            {"allergy_status": _("This member has active allergies; resolve them before recording none.")}
        )
    now = datetime.now(UTC)
    async with transaction():
        await queries.set_member_status(member_id, "none", actor.id, now)
        await audit.record(actor, audit.ALLERGY_NONE, member_id=member_id)


@dataclass
class AllergyRecord:
    """One allergy with its full status (the counter's banner only shows the active ones)."""

    id: int
    allergen_class: str
    label: str
    substance: str
    substance_label: str
    criticality: str
    criticality_label: str
    reaction: str
    reaction_label: str
    verification_status: str
    clinical_status: str
    recorded_by: str | None
    recorded_at: datetime | None
    changed_by: str | None = None
    changed_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.clinical_status == "active" and self.verification_status not in ("refuted", "entered-in-error")

    @property
    def status_label(self) -> str:
        if self.verification_status == "refuted":
            return _("refuted")
        if self.verification_status == "entered-in-error":
            return _("entered in error")
        return {"active": _("active"), "inactive": _("inactive"), "resolved": _("resolved")}.get(
            self.clinical_status, self.clinical_status
        )


async def allergy_records(member_id: int) -> list[AllergyRecord]:
    """Every allergy of the member: active first, then the others, each with its last status change."""
    rows = await queries.allergies_of(member_id)
    changes = await timeline.last_events(member_id, timeline.ALLERGY, "allergy-status:")
    records = []
    for r in rows:
        changed_at, changed_by = changes.get(f"allergy-status:{r['id']}", (None, None))
        records.append(
            AllergyRecord(
                id=r["id"],
                allergen_class=r["allergen_class"],
                label=class_label(r["allergen_class"]),
                substance=r["substance"] or "",
                substance_label=substance_label(r["allergen_class"], r["substance"] or ""),
                criticality=r["criticality"],
                criticality_label=criticality_label(r["criticality"]),
                reaction=r["reaction"] or "",
                reaction_label=reaction_label(r["reaction"] or ""),
                verification_status=r["verification_status"],
                clinical_status=r["clinical_status"],
                recorded_by=r["recorded_by"],
                recorded_at=as_datetime(r["recorded_at"]),
                changed_by=changed_by,
                changed_at=changed_at,
            )
        )
    return sorted(records, key=lambda a: (not a.active, a.criticality != "high", a.label))


def _allergy_label(code: str) -> str:
    """ "class|substance" → the allergen class, with the substance in brackets when there is one."""
    allergen_class, _sep, substance = code.partition("|")
    label = class_label(allergen_class)
    return f"{label} ({substance_label(allergen_class, substance)})" if substance else label


async def allergy_status_of(member_id: int) -> dict:
    """`allergy_status`, `allergy_status_at` (aware) and `status_by` (the staff's name) of an existing member."""
    row = await queries.member_status(member_id)
    return {**row, "allergy_status_at": as_datetime(row["allergy_status_at"])}


# What can happen to a recorded allergy; refuted and entered-in-error ones stop being active too.
ALLERGY_CHANGES = ("resolve", "refute", "entered_in_error", "reactivate")


_CHANGE_SUMMARIES = {
    "resolve": N_("Allergy resolved: %(label)s"),
    "refute": N_("Allergy refuted: %(label)s"),
    "entered_in_error": N_("Allergy entered in error: %(label)s"),
    "reactivate": N_("Allergy active again: %(label)s"),
}


def _allergy_label(code: str) -> str:
    """ "class|substance" → the allergen class, with the substance in brackets when there is one."""
    allergen_class, _sep, substance = code.partition("|")
    label = class_label(allergen_class)
    return f"{label} ({substance_label(allergen_class, substance)})" if substance else label


async def change_allergy(member_id: int, allergy_id: int | str, change: str, actor: StaffUser) -> AllergyRecord:
    """Resolve, refute, mark entered-in-error or reactivate an allergy (who and when go on the timeline).

    When the last active allergy goes, the member's allergy status returns to `unknown`: the counter then asks
    again instead of claiming "no known allergies" nobody said.
    """
    if change not in ALLERGY_CHANGES:
        raise ValidationFailed({"change": _("Unknown change.")})
    try:
        aid = int(allergy_id)
    except (TypeError, ValueError):
        aid = 0
    current = next((a for a in await allergy_records(member_id) if a.id == aid), None)
    if current is None:
        raise NotFound(_("No allergy %(id)s on this member's record.") % {"id": allergy_id})
    if change == "reactivate":
        if current.verification_status in ("refuted", "entered-in-error") or current.active:
            raise ValidationFailed({"change": _("Only a resolved allergy can be made active again.")})
        await consents.require_health_consent(member_id)
    elif not current.active:
        raise ValidationFailed({"change": _("This allergy is no longer active.")})
    now = datetime.now(UTC)
    async with transaction():
        before = await queries.member_status(member_id)
        await queries.set_clinical_status(aid, change)
        status = status_after_change(await queries.active_count(member_id))
        if status != before["allergy_status"]:
            await queries.set_member_status(member_id, status, actor.id, now)
        label = timeline.Label("allergy", f"{current.allergen_class}|{current.substance or ''}")
        summary = timeline.message(_CHANGE_SUMMARIES[change], label=label)
        await timeline.record_event(member_id, timeline.ALLERGY, summary, actor, ref=f"allergy-status:{aid}")
        await audit.record(actor, ALLERGY_CHANGE, member_id=member_id, detail=f"{change}:{current.allergen_class}")
    return next(a for a in await allergy_records(member_id) if a.id == aid)


timeline.register_labeller("allergy", _allergy_label)
