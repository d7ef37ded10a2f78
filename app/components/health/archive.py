"""The health archive: coded conditions, vitals over time with flags and BMI, preference tags, allergy status changes.

Nothing here stores health data without the member's health-data consent (`consents.require_health_consent`);
every view of a member's health data is audited and every change lands on the member timeline in the same
transaction.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from app.components import audit, consents, timeline
from app.components.allergies import class_label, criticality_label, reaction_label, substance_label
from app.components.core import bounds
from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import Role
from app.db import fetch, marks, transaction
from app.i18n import N_, _, pick
from app.settings import get_settings

DATA = Path(__file__).resolve().parents[2] / "data"

# Audit actions of this module.
HEALTH_VIEW = "health.view"
VITALS_VIEW = "vitals.view"
TIMELINE_VIEW = "timeline.view"
CONDITION_RECORD = "condition.record"
CONDITION_CONFIRM = "condition.confirm"
CONDITION_RESOLVE = "condition.resolve"
VITAL_RECORD = "vital.record"
ALLERGY_CHANGE = "allergy.change"
# Timeline kind for preference tags (conditions, vitals and allergies use the timeline module's kinds).
PREFERENCE_EVENT = "preference"


# ---------------------------------------------------------------- vocabularies


@dataclass(frozen=True)
class ConditionDef:
    """One condition of the standard vocabulary (app/data/conditions.csv)."""

    code: str
    name_zh: str
    name_en: str
    common: bool

    @property
    def label(self) -> str:
        return pick(self.name_zh, self.name_en)

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class InferenceRule:
    """A purchase of a medicine under `atc_prefix` suggests `condition` (condition_inference.csv)."""

    atc_prefix: str
    condition: str
    confidence: str  # likely | possible


def _load_conditions() -> dict[str, ConditionDef]:
    with open(DATA / "conditions.csv", encoding="utf-8") as fh:
        return {
            row["code"]: ConditionDef(row["code"], row["name_zh"], row["name_en"], row["common"] == "1")
            for row in csv.DictReader(fh)
        }


# code → condition, in the vocabulary's order. Every condition code of condition_inference.csv is in it.
CONDITIONS: dict[str, ConditionDef] = _load_conditions()


@cache
def inference_rules() -> tuple[InferenceRule, ...]:
    """The ATC-prefix rules, longest (most specific) prefix first."""
    with open(DATA / "condition_inference.csv", encoding="utf-8") as fh:
        rules = [
            InferenceRule(r["atc_prefix"].strip().upper(), r["condition_code"], r["confidence"])
            for r in csv.DictReader(fh)
        ]
    return tuple(sorted(rules, key=lambda r: -len(r.atc_prefix)))


def rule_for_atc(atc_code: str) -> InferenceRule | None:
    """The most specific rule whose prefix the ATC code starts with, or None."""
    code = (atc_code or "").strip().upper()
    if not code:
        return None
    return next((r for r in inference_rules() if code.startswith(r.atc_prefix)), None)


def condition_label(code: str) -> str:
    """A condition code's name in the current language (the code itself when unknown)."""
    found = CONDITIONS.get(code)
    return found.label if found else code


SOURCES = ("declared", "inferred", "confirmed")
# How much a source says: a stronger source upgrades an existing active condition, a weaker one changes nothing.
_SOURCE_RANK = {"inferred": 0, "declared": 1, "confirmed": 2}


def source_label(source: str) -> str:
    """A condition source's name in the current language."""
    return {
        "declared": _("declared by the member"),
        "inferred": _("inferred from purchases"),
        "confirmed": _("confirmed by a pharmacist"),
    }.get(source, source)


def confidence_label(confidence: str) -> str:
    """How strongly a purchase suggests a condition."""
    return {"likely": _("likely"), "possible": _("possible")}.get(confidence, confidence)


PREFERENCE_KINDS = ("brand", "dosage_form", "channel", "contact_time")
# Coded values per kind; brands are free tags.
PREFERENCE_VALUES: dict[str, tuple[str, ...]] = {
    "dosage_form": (
        "tablet",
        "capsule",
        "granules",
        "oral_liquid",
        "chewable",
        "effervescent",
        "injection",
        "inhaler",
        "topical",
        "drops",
        "patch",
        "suppository",
        "tcm_decoction",
    ),
    "channel": ("sms", "wechat", "phone", "in_store"),
    "contact_time": ("morning", "noon", "afternoon", "evening", "weekend"),
}
BRAND_MAX_LENGTH = 60


def preference_kind_label(kind: str) -> str:
    """A preference kind's name in the current language."""
    return {
        "brand": _("Brands"),
        "dosage_form": _("Dosage forms"),
        "channel": _("Contact channel"),
        "contact_time": _("Time of day to contact"),
    }.get(kind, kind)


def preference_label(kind: str, value: str) -> str:
    """A preference value's name (brands are shown as entered)."""
    labels = {
        "tablet": _("tablets"),
        "capsule": _("capsules"),
        "granules": _("granules"),
        "oral_liquid": _("oral liquid"),
        "chewable": _("chewable tablets"),
        "effervescent": _("effervescent tablets"),
        "injection": _("injections"),
        "inhaler": _("inhalers"),
        "topical": _("creams and ointments"),
        "drops": _("drops"),
        "patch": _("patches"),
        "suppository": _("suppositories"),
        "tcm_decoction": _("TCM decoction"),
        "sms": _("SMS"),
        "wechat": _("WeChat"),
        "phone": _("phone call"),
        "in_store": _("in the store only"),
        "morning": _("morning"),
        "noon": _("noon"),
        "afternoon": _("afternoon"),
        "evening": _("evening"),
        "weekend": _("weekends"),
    }
    return value if kind == "brand" else labels.get(value, value)


VITAL_KINDS = ("bp", "glucose", "weight", "height")
GLUCOSE_CONTEXTS = ("fasting", "post_meal_2h", "random")
VITAL_SOURCES = ("counter", "kiosk", "api", "import")


def vital_kind_label(kind: str) -> str:
    """A vital kind's name in the current language."""
    return {
        "bp": _("Blood pressure"),
        "glucose": _("Blood glucose"),
        "weight": _("Weight"),
        "height": _("Height"),
    }.get(kind, kind)


def glucose_context_label(context: str) -> str:
    """When a glucose reading was taken."""
    return {
        "fasting": _("fasting"),
        "post_meal_2h": _("2 h after a meal"),
        "random": _("random"),
    }.get(context, context)


def flag_label(flag: str) -> str:
    """An out-of-range flag's name."""
    return {"high": _("high"), "low": _("low")}.get(flag, "")


# ---------------------------------------------------------------- thresholds and bounds

BP_HIGH = (140, 90)  # systolic ≥ 140 or diastolic ≥ 90
BP_LOW = (90, 60)  # systolic < 90 or diastolic < 60
GLUCOSE_HIGH = {"fasting": 7.0, "post_meal_2h": 11.1, "random": 11.1}  # mmol/L, at or above
GLUCOSE_LOW = 3.9  # mmol/L, below
# Chinese adult BMI cut-offs (WS/T 428): < 18.5 underweight, 24 overweight, 28 obese.
BMI_CUTOFFS = (18.5, 24.0, 28.0)
# Plausible input ranges: outside them the reading is a typing error, not a measurement.
BOUNDS: dict[str, tuple[float, float]] = {
    "systolic": (50, 260),
    "diastolic": (30, 160),
    "pulse": (30, 220),
    "glucose": (1.0, 35.0),
    "weight_kg": (1.0, 300.0),
    "height_cm": (40.0, 250.0),
}
MAX_AGE_DAYS = 3650  # a reading may be entered up to ten years after it was taken
CHART_DAYS = 365


def bp_flag(systolic: int, diastolic: int) -> str:
    """ "high", "low" or "" for a blood pressure reading."""
    if systolic >= BP_HIGH[0] or diastolic >= BP_HIGH[1]:
        return "high"
    if systolic < BP_LOW[0] or diastolic < BP_LOW[1]:
        return "low"
    return ""


def glucose_flag(value: float, context: str) -> str:
    """ "high", "low" or "" for a glucose reading in mmol/L taken in `context`."""
    if value < GLUCOSE_LOW:
        return "low"
    if value >= GLUCOSE_HIGH.get(context, GLUCOSE_HIGH["random"]):
        return "high"
    return ""


def bmi(weight_kg: float | None, height_cm: float | None) -> float | None:
    """Body-mass index, one decimal, or None without both measurements."""
    if not weight_kg or not height_cm:
        return None
    return round(weight_kg / (height_cm / 100) ** 2, 1)


def bmi_category(value: float) -> str:
    """underweight | normal | overweight | obese (Chinese adult cut-offs)."""
    low, over, obese = BMI_CUTOFFS
    if value < low:
        return "underweight"
    if value < over:
        return "normal"
    if value < obese:
        return "overweight"
    return "obese"


def bmi_category_label(category: str) -> str:
    """A BMI category's name."""
    return {
        "underweight": _("underweight"),
        "normal": _("normal weight"),
        "overweight": _("overweight"),
        "obese": _("obese"),
    }.get(category, category)


# ---------------------------------------------------------------- shared helpers


def _as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _as_date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


async def _member(member_no: str) -> dict:
    rows = await fetch(
        "SELECT id, member_no, consent_health, allergy_status FROM member WHERE member_no = {} AND merged_into IS NULL",
        (member_no or "").strip(),
    )
    if not rows:
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    return rows[0]


async def _consent_errors(member_id: int) -> dict[str, str]:
    try:
        await consents.require_health_consent(member_id)
    except ValidationFailed as exc:
        return exc.errors
    return {}


async def _last_events(member_id: int, kind: str, ref_prefix: str) -> dict[str, tuple[datetime | None, str | None]]:
    """ref → (when, who) of the latest timeline event of `kind` whose ref starts with `ref_prefix`."""
    rows = await fetch(
        "SELECT e.ref, e.at, s.display_name AS staff FROM member_event e LEFT JOIN staff s ON s.id = e.staff"
        " WHERE e.member = {} AND e.kind = {} AND e.ref LIKE {} ORDER BY e.at, e.id",
        member_id,
        kind,
        ref_prefix + "%",
    )
    return {r["ref"]: (_as_datetime(r["at"]), r["staff"]) for r in rows}


# ---------------------------------------------------------------- conditions


@dataclass
class NewCondition:
    """A condition as entered at the counter, imported, or sent by the API."""

    code: str = ""
    source: str = "declared"
    onset: str = ""
    note: str = ""


@dataclass
class ConditionView:
    """One condition on the member's record."""

    id: int
    code: str
    label: str
    source: str
    source_label: str
    status: str
    onset: date | None
    note: str
    evidence: str
    recorded_by: str | None
    recorded_at: datetime | None
    confirmed_by: str | None
    confirmed_at: datetime | None
    resolved_by: str | None = None
    resolved_at: datetime | None = None

    @property
    def confidence(self) -> str:
        """For an inferred condition: how strongly its evidence (an ATC code) suggests it."""
        rule = rule_for_atc(self.evidence) if self.evidence else None
        return rule.confidence if rule else ""

    def as_json(self) -> dict:
        """The API representation."""
        return {
            "id": self.id,
            "code": self.code,
            "label": self.label,
            "source": self.source,
            "status": self.status,
            "onset": self.onset.isoformat() if self.onset else None,
            "note": self.note,
            "evidence": self.evidence,
            "confidence": self.confidence or None,
            "recorded_by": self.recorded_by,
            "recorded_at": _iso(self.recorded_at),
            "confirmed_by": self.confirmed_by,
            "confirmed_at": _iso(self.confirmed_at),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


_CONDITION_SQL = (
    "SELECT c.id, c.code, c.source, c.status, c.onset, c.note, c.evidence, c.recorded_at, c.confirmed_at,"
    " rb.display_name AS recorded_by, cb.display_name AS confirmed_by FROM member_condition c"
    " LEFT JOIN staff rb ON rb.id = c.recorded_by LEFT JOIN staff cb ON cb.id = c.confirmed_by"
)


def _condition_view(row: dict) -> ConditionView:
    return ConditionView(
        id=row["id"],
        code=row["code"],
        label=condition_label(row["code"]),
        source=row["source"],
        source_label=source_label(row["source"]),
        status=row["status"],
        onset=_as_date(row["onset"]),
        note=row["note"] or "",
        evidence=row["evidence"] or "",
        recorded_by=row["recorded_by"],
        recorded_at=_as_datetime(row["recorded_at"]),
        confirmed_by=row["confirmed_by"],
        confirmed_at=_as_datetime(row["confirmed_at"]),
    )


async def conditions(member_id: int, include_resolved: bool = True) -> list[ConditionView]:
    """The member's conditions: active ones first (in vocabulary order), then resolved ones, newest first."""
    where = "" if include_resolved else " AND c.status = 'active'"
    rows = await fetch(_CONDITION_SQL + f" WHERE c.member = {{}}{where} ORDER BY c.id", member_id)
    views = [_condition_view(r) for r in rows]
    changes = await _last_events(member_id, timeline.CONDITION, "condition-resolved:")
    for view in views:
        view.resolved_at, view.resolved_by = changes.get(f"condition-resolved:{view.id}", (None, None))
    order = {code: i for i, code in enumerate(CONDITIONS)}
    active = sorted((v for v in views if v.status == "active"), key=lambda v: order.get(v.code, len(order)))
    resolved = sorted((v for v in views if v.status != "active"), key=lambda v: -v.id)
    return active + resolved


def _parse_onset(raw: str) -> date:
    """YYYY-MM-DD, YYYY-MM or YYYY (members often only know the year)."""
    text = raw.strip()
    if len(text) == 4 and text.isdigit():
        return date(int(text), 1, 1)
    if len(text) == 7 and text[4] == "-":
        return date(int(text[:4]), int(text[5:]), 1)
    return date.fromisoformat(text)


def validate_condition(data: NewCondition, actor: StaffUser | None = None) -> tuple[dict[str, str], dict]:
    """Field errors and the cleaned values of a condition entry."""
    errors: dict[str, str] = {}
    clean: dict = {}
    code = (data.code or "").strip()
    if not code:
        errors["code"] = _("Choose a condition from the list.")
    elif code not in CONDITIONS:
        errors["code"] = _("Unknown condition %(code)s: choose one from the list.") % {"code": code}
    clean["code"] = code
    source = (data.source or "declared").strip()
    if source not in SOURCES:
        errors["source"] = _("The source must be declared, inferred or confirmed.")
    elif source == "confirmed" and (actor is None or actor.role != Role.PHARMACIST):
        errors["source"] = _("Only a pharmacist can confirm a condition.")
    clean["source"] = source
    clean["onset"] = None
    if data.onset and str(data.onset).strip():
        try:
            onset = _parse_onset(str(data.onset))
        except ValueError:
            errors["onset"] = _("Enter the onset as YYYY-MM-DD, YYYY-MM or YYYY.")
        else:
            today = datetime.now(_zone()).date()
            if onset > today:
                errors["onset"] = _("The onset cannot be in the future.")
            elif onset.year < 1900:
                errors["onset"] = _("The onset is too long ago.")
            clean["onset"] = onset
    note = (data.note or "").strip()
    if len(note) > 200:
        errors["note"] = _("The note is too long (200 characters at most).")
    clean["note"] = note
    return errors, clean


async def _condition(member_id: int, condition_id: int | str) -> ConditionView:
    try:
        cid = int(condition_id)
    except (TypeError, ValueError):
        cid = 0
    rows = await fetch(_CONDITION_SQL + " WHERE c.member = {} AND c.id = {}", member_id, cid)
    if not rows:
        raise NotFound(_("No condition %(id)s on this member's record.") % {"id": condition_id})
    return _condition_view(rows[0])


async def add_condition(member_no: str, data: NewCondition, actor: StaffUser) -> ConditionView:
    """Record a condition; an active one with the same code is upgraded by a stronger source, never doubled."""
    member = await _member(member_no)
    errors, clean = validate_condition(data, actor)
    errors.update(await _consent_errors(member["id"]))
    if errors:
        raise ValidationFailed(errors)
    now = datetime.now(UTC)
    async with transaction():
        existing = await fetch(
            "SELECT id, source FROM member_condition WHERE member = {} AND code = {} AND status = 'active'"
            " ORDER BY id LIMIT 1",
            member["id"],
            clean["code"],
        )
        confirmed = clean["source"] == "confirmed"
        if existing:
            cid = existing[0]["id"]
            if _SOURCE_RANK[clean["source"]] > _SOURCE_RANK.get(existing[0]["source"], 0):
                await fetch(
                    "UPDATE member_condition SET source = {}, confirmed_by = {}, confirmed_at = {},"
                    " onset = COALESCE(onset, {}), note = CASE WHEN note = '' THEN {} ELSE note END WHERE id = {}",
                    clean["source"],
                    actor.id if confirmed else None,
                    now if confirmed else None,
                    clean["onset"],
                    clean["note"],
                    cid,
                )
                await timeline.record_event(
                    member["id"],
                    timeline.CONDITION,
                    timeline.message(
                        N_("Condition %(label)s: %(source)s"),
                        label=timeline.Label("condition", clean["code"]),
                        source=timeline.Label("condition_source", clean["source"]),
                    ),
                    actor,
                    ref=f"condition:{cid}",
                )
                await audit.record(actor, CONDITION_RECORD, member_id=member["id"], detail=clean["code"])
        else:
            rows = await fetch(
                "INSERT INTO member_condition (member, code, source, status, onset, note, evidence, recorded_by,"
                " recorded_at, confirmed_by, confirmed_at) VALUES ({}, {}, {}, 'active', {}, {}, '', {}, {}, {}, {})"
                " RETURNING id",
                member["id"],
                clean["code"],
                clean["source"],
                clean["onset"],
                clean["note"],
                actor.id,
                now,
                actor.id if confirmed else None,
                now if confirmed else None,
            )
            cid = rows[0]["id"]
            await timeline.record_event(
                member["id"],
                timeline.CONDITION,
                timeline.message(
                    N_("Condition recorded: %(label)s (%(source)s)"),
                    label=timeline.Label("condition", clean["code"]),
                    source=timeline.Label("condition_source", clean["source"]),
                ),
                actor,
                ref=f"condition:{cid}",
            )
            await audit.record(actor, CONDITION_RECORD, member_id=member["id"], detail=clean["code"])
    return await _condition(member["id"], cid)


async def confirm_condition(member_no: str, condition_id: int | str, actor: StaffUser) -> ConditionView:
    """A pharmacist confirms a declared or inferred condition (who and when are kept)."""
    member = await _member(member_no)
    view = await _condition(member["id"], condition_id)
    if actor.role != Role.PHARMACIST:
        raise ValidationFailed({"condition": _("Only a pharmacist can confirm a condition.")})
    if view.status != "active":
        raise ValidationFailed({"condition": _("A resolved condition cannot be confirmed.")})
    errors = await _consent_errors(member["id"])
    if errors:
        raise ValidationFailed(errors)
    if view.source == "confirmed":
        return view
    async with transaction():
        await fetch(
            "UPDATE member_condition SET source = 'confirmed', confirmed_by = {}, confirmed_at = {} WHERE id = {}",
            actor.id,
            datetime.now(UTC),
            view.id,
        )
        await timeline.record_event(
            member["id"],
            timeline.CONDITION,
            timeline.message(
                N_("Condition confirmed by a pharmacist: %(label)s"), label=timeline.Label("condition", view.code)
            ),
            actor,
            ref=f"condition:{view.id}",
        )
        await audit.record(actor, CONDITION_CONFIRM, member_id=member["id"], detail=view.code)
    return await _condition(member["id"], view.id)


async def resolve_condition(member_no: str, condition_id: int | str, actor: StaffUser) -> ConditionView:
    """Mark a condition resolved (or an inference dismissed); the timeline keeps who and when."""
    member = await _member(member_no)
    view = await _condition(member["id"], condition_id)
    if view.status != "active":
        return view
    async with transaction():
        await fetch("UPDATE member_condition SET status = 'resolved' WHERE id = {}", view.id)
        await timeline.record_event(
            member["id"],
            timeline.CONDITION,
            timeline.message(N_("Condition resolved: %(label)s"), label=timeline.Label("condition", view.code)),
            actor,
            ref=f"condition-resolved:{view.id}",
        )
        await audit.record(actor, CONDITION_RESOLVE, member_id=member["id"], detail=view.code)
    found = await conditions(member["id"])
    return next(c for c in found if c.id == view.id)


async def infer_conditions_from_atc(
    member_id: int, atc_codes: Iterable[str], actor: StaffUser | None
) -> list[ConditionView]:
    """Record `inferred` conditions suggested by purchased medicines' ATC codes (evidence = the ATC code).

    Skips a condition that is already active (any source) or whose earlier inference a pharmacist dismissed
    (resolved while still `inferred`). Without health-data consent nothing is stored and nothing is raised:
    a sale must not fail over it. Returns the conditions it created.
    """
    found: dict[str, str] = {}
    for atc in atc_codes:
        rule = rule_for_atc(atc)
        if rule and rule.condition in CONDITIONS and rule.condition not in found:
            found[rule.condition] = atc.strip().upper()[:40]
    if not found or not await consents.has_health_consent(member_id):
        return []
    now = datetime.now(UTC)
    created: list[int] = []
    async with transaction():
        rows = await fetch("SELECT code, status, source FROM member_condition WHERE member = {}", member_id)
        skip = {r["code"] for r in rows if r["status"] == "active" or r["source"] == "inferred"}
        for code, atc in found.items():
            if code in skip:
                continue
            inserted = await fetch(
                "INSERT INTO member_condition (member, code, source, status, note, evidence, recorded_by, recorded_at)"
                " VALUES ({}, {}, 'inferred', 'active', '', {}, {}, {}) RETURNING id",
                member_id,
                code,
                atc,
                actor.id if actor else None,
                now,
            )
            created.append(inserted[0]["id"])
            await timeline.record_event(
                member_id,
                timeline.CONDITION,
                timeline.message(
                    N_("Condition inferred from a purchase (%(atc)s): %(label)s"),
                    atc=atc,
                    label=timeline.Label("condition", code),
                ),
                actor,
                ref=f"condition:{inserted[0]['id']}",
            )
    views = await conditions(member_id)
    return [v for v in views if v.id in created]


# ---------------------------------------------------------------- vitals


@dataclass
class NewVital:
    """One measurement as a form, a CSV row or the API sends it; numbers may arrive as text.

    `kind` may be empty: every kind whose fields are filled is then recorded (e.g. weight and height together).
    `measured_at` is ISO (`2026-03-01T08:30`, local time when it has no offset) or empty for now.
    """

    kind: str = ""
    systolic: str | int = ""
    diastolic: str | int = ""
    pulse: str | int = ""
    glucose: str | float = ""
    glucose_context: str = ""
    weight_kg: str | float = ""
    height_cm: str | float = ""
    measured_at: str = ""


# The fields whose presence means a kind was measured (for entries that leave `kind` empty).
_KIND_FIELDS = {
    "bp": ("systolic", "diastolic", "pulse"),
    "glucose": ("glucose",),
    "weight": ("weight_kg",),
    "height": ("height_cm",),
}


def _filled(value: object) -> bool:
    return value is not None and str(value).strip() != ""


def _field_label(name: str) -> str:
    return {
        "systolic": _("Systolic pressure"),
        "diastolic": _("Diastolic pressure"),
        "pulse": _("Pulse"),
        "glucose": _("Blood glucose"),
        "weight_kg": _("Weight"),
        "height_cm": _("Height"),
    }[name]


def _unit(name: str) -> str:
    return {
        "systolic": "mmHg",
        "diastolic": "mmHg",
        "pulse": _("beats/min"),
        "glucose": "mmol/L",
        "weight_kg": "kg",
        "height_cm": "cm",
    }[name]


def _number(data: NewVital, name: str, errors: dict[str, str], whole: bool) -> float | int | None:
    raw = getattr(data, name)
    if not _filled(raw):
        return None
    text = str(raw).strip().replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    lo, hi = BOUNDS[name]
    label, unit = _field_label(name), _unit(name)
    if math.isnan(value) or math.isinf(value):
        errors[name] = _("%(field)s must be a number (%(unit)s).") % {"field": label, "unit": unit}
        return None
    if whole and value != int(value):
        errors[name] = _("%(field)s must be a whole number (%(unit)s).") % {"field": label, "unit": unit}
        return None
    if not lo <= value <= hi:
        fmt = "%d" if whole else "%g"
        errors[name] = _("%(field)s must be between %(lo)s and %(hi)s %(unit)s.") % {
            "field": label,
            "lo": fmt % lo,
            "hi": fmt % hi,
            "unit": unit,
        }
        return None
    return int(value) if whole else round(value, 1)


def _parse_measured_at(raw: object, errors: dict[str, str], now: datetime) -> datetime:
    if isinstance(raw, datetime):
        when = raw if raw.tzinfo else raw.replace(tzinfo=_zone())
    elif not _filled(raw):
        return now.replace(microsecond=0)
    else:
        text = str(raw).strip().replace("Z", "+00:00")
        try:
            when = (
                datetime.fromisoformat(text)
                if len(text) > 10
                else datetime.combine(date.fromisoformat(text), datetime.min.time())
            )
        except ValueError:
            errors["measured_at"] = _("Enter the time of the measurement as YYYY-MM-DD HH:MM.")
            return now
        if when.tzinfo is None:
            when = when.replace(tzinfo=_zone())
    # A year outside any record's (year 1, 9999) is refused before the zone change, which could leave datetime's range.
    if not bounds.year_in_range(when):
        errors["measured_at"] = (
            _("The time of the measurement cannot be in the future.")
            if when.year > bounds.MAX_YEAR
            else _("The measurement is more than ten years old.")
        )
        return now
    when = when.astimezone(UTC).replace(microsecond=0)
    if when > now + timedelta(minutes=5):
        errors["measured_at"] = _("The time of the measurement cannot be in the future.")
    elif when < now - timedelta(days=MAX_AGE_DAYS):
        errors["measured_at"] = _("The measurement is more than ten years old.")
    return when


def validate_vital(data: NewVital, now: datetime | None = None) -> tuple[dict[str, str], list[dict]]:
    """Field errors, and the readings (one dict per kind, with its flag) that `data` describes."""
    now = now or datetime.now(UTC)
    errors: dict[str, str] = {}
    kind = (data.kind or "").strip()
    if kind and kind not in VITAL_KINDS:
        errors["kind"] = _("Choose blood pressure, blood glucose, weight or height.")
        return errors, []
    if kind:
        kinds = [kind]
    else:
        kinds = [k for k, names in _KIND_FIELDS.items() if any(_filled(getattr(data, n)) for n in names)]
        if not kinds:
            errors["kind"] = _("Enter at least one reading.")
            return errors, []
    when = _parse_measured_at(data.measured_at, errors, now)
    readings: list[dict] = []
    for k in kinds:
        reading = {
            "kind": k,
            "systolic": None,
            "diastolic": None,
            "pulse": None,
            "glucose": None,
            "glucose_context": "",
            "weight_kg": None,
            "height_cm": None,
            "flag": "",
            "measured_at": when,
        }
        if k == "bp":
            systolic = _number(data, "systolic", errors, whole=True)
            diastolic = _number(data, "diastolic", errors, whole=True)
            pulse = _number(data, "pulse", errors, whole=True)
            if systolic is None and "systolic" not in errors:
                errors["systolic"] = _("Enter the systolic pressure (the upper number).")
            if diastolic is None and "diastolic" not in errors:
                errors["diastolic"] = _("Enter the diastolic pressure (the lower number).")
            if systolic is not None and diastolic is not None:
                if diastolic >= systolic:
                    errors["diastolic"] = _("The diastolic pressure must be lower than the systolic pressure.")
                else:
                    reading["flag"] = bp_flag(systolic, diastolic)
            reading.update(systolic=systolic, diastolic=diastolic, pulse=pulse)
        elif k == "glucose":
            value = _number(data, "glucose", errors, whole=False)
            context = (data.glucose_context or "").strip()
            if value is None and "glucose" not in errors:
                errors["glucose"] = _("Enter the blood glucose in mmol/L.")
            if context not in GLUCOSE_CONTEXTS:
                errors["glucose_context"] = _("Choose when it was measured: fasting, 2 h after a meal or random.")
            elif value is not None:
                reading["flag"] = glucose_flag(value, context)
            reading.update(glucose=value, glucose_context=context)
        elif k == "weight":
            value = _number(data, "weight_kg", errors, whole=False)
            if value is None and "weight_kg" not in errors:
                errors["weight_kg"] = _("Enter the weight in kg.")
            reading["weight_kg"] = value
        else:
            value = _number(data, "height_cm", errors, whole=False)
            if value is None and "height_cm" not in errors:
                errors["height_cm"] = _("Enter the height in cm.")
            reading["height_cm"] = value
        readings.append(reading)
    return errors, readings


def _value_text(code: str) -> str:
    """A reading's `value_code` as a person writes it, in the current language."""
    kind, *numbers = code.split("|")
    if kind == "bp":
        systolic, diastolic, pulse = [*numbers, "", "", ""][:3]
        text = f"{systolic}/{diastolic} mmHg"
        return text + " · " + _("pulse %(n)s") % {"n": pulse} if pulse else text
    unit = {"glucose": "mmol/L", "weight": "kg", "height": "cm"}.get(kind, "")
    return f"{numbers[0] if numbers else ''} {unit}".strip()


@dataclass
class VitalView:
    """One recorded measurement."""

    id: int
    kind: str
    systolic: int | None
    diastolic: int | None
    pulse: int | None
    glucose: float | None
    glucose_context: str
    weight_kg: float | None
    height_cm: float | None
    flag: str
    measured_at: datetime
    source: str
    recorded_by: str | None

    @property
    def kind_label(self) -> str:
        return vital_kind_label(self.kind)

    @property
    def flag_label(self) -> str:
        return flag_label(self.flag)

    @property
    def context_label(self) -> str:
        return glucose_context_label(self.glucose_context)

    @property
    def source_label(self) -> str:
        """Where it was measured, in the current language (the one helper for source and channel codes)."""
        return consents.channel_label(self.source)

    @property
    def value_text(self) -> str:
        """The reading as a person writes it: 135/85 mmHg, 6.2 mmol/L, 65.5 kg, 170 cm."""
        return _value_text(self.value_code)

    @property
    def value_code(self) -> str:
        """The reading's numbers as one code ("bp|135|85|72"), for a summary translated when read."""
        if self.kind == "bp":
            return f"bp|{self.systolic}|{self.diastolic}|{self.pulse or ''}"
        if self.kind == "glucose":
            return f"glucose|{self.glucose:.1f}"
        if self.kind == "weight":
            return f"weight|{self.weight_kg:g}"
        return f"height|{self.height_cm:g}"

    def as_json(self) -> dict:
        """The API representation."""
        return {
            "id": self.id,
            "kind": self.kind,
            "systolic": self.systolic,
            "diastolic": self.diastolic,
            "pulse": self.pulse,
            "glucose": self.glucose,
            "glucose_context": self.glucose_context or None,
            "weight_kg": self.weight_kg,
            "height_cm": self.height_cm,
            "flag": self.flag or None,
            "measured_at": self.measured_at.isoformat(),
            "source": self.source,
            "recorded_by": self.recorded_by,
        }


_VITAL_SQL = (
    "SELECT v.id, v.kind, v.systolic, v.diastolic, v.pulse, v.glucose, v.glucose_context, v.weight_kg, v.height_cm,"
    " v.flag, v.measured_at, v.source, s.display_name AS recorded_by"
    " FROM vital v LEFT JOIN staff s ON s.id = v.recorded_by"
)


def _one_decimal(value: float | None) -> float | None:
    # PostgreSQL keeps Piccolo's Float as REAL: 6.2 comes back as 6.19999980926514.
    return None if value is None else round(float(value), 1)


def _vital_view(row: dict) -> VitalView:
    return VitalView(
        id=row["id"],
        kind=row["kind"],
        systolic=row["systolic"],
        diastolic=row["diastolic"],
        pulse=row["pulse"],
        glucose=_one_decimal(row["glucose"]),
        glucose_context=row["glucose_context"] or "",
        weight_kg=_one_decimal(row["weight_kg"]),
        height_cm=_one_decimal(row["height_cm"]),
        flag=row["flag"] or "",
        measured_at=_as_datetime(row["measured_at"]),
        source=row["source"],
        recorded_by=row["recorded_by"],
    )


_VALUE_COLUMNS = ("systolic", "diastolic", "pulse", "glucose", "glucose_context", "weight_kg", "height_cm")


async def record_vital(
    member_no: str, data: NewVital, actor: StaffUser | None, source: str = "counter"
) -> list[VitalView]:
    """Validate and store one measurement (or several kinds at once when `kind` is empty), flagged.

    The same reading at the same given time is stored once (so re-importing a file changes nothing).
    Returns the stored readings, one per kind.
    """
    member = await _member(member_no)
    if source not in VITAL_SOURCES:
        raise ValidationFailed({"source": _("Unknown source.")})
    explicit_time = _filled(data.measured_at)
    errors, readings = validate_vital(data)
    errors.update(await _consent_errors(member["id"]))
    if errors:
        raise ValidationFailed(errors)
    ids: list[int] = []
    async with transaction():
        for r in readings:
            if explicit_time:
                same = await fetch(
                    "SELECT id, " + ", ".join(_VALUE_COLUMNS) + " FROM vital WHERE member = {} AND kind = {}"
                    " AND measured_at = {}",
                    member["id"],
                    r["kind"],
                    r["measured_at"],
                )
                twin = next((s for s in same if all(_same(s[c], r[c]) for c in _VALUE_COLUMNS)), None)
                if twin is not None:
                    ids.append(twin["id"])
                    continue
            rows = await fetch(
                "INSERT INTO vital (member, kind, systolic, diastolic, pulse, glucose, glucose_context, weight_kg,"
                " height_cm, flag, measured_at, source, recorded_by)"
                " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
                member["id"],
                r["kind"],
                r["systolic"],
                r["diastolic"],
                r["pulse"],
                r["glucose"],
                r["glucose_context"],
                r["weight_kg"],
                r["height_cm"],
                r["flag"],
                r["measured_at"],
                source,
                actor.id if actor else None,
            )
            ids.append(rows[0]["id"])
            view = _vital_view({**r, "id": rows[0]["id"], "source": source, "recorded_by": None})
            summary = _vital_summary(view)
            await timeline.record_event(member["id"], timeline.VITAL, summary, actor, ref=f"vital:{rows[0]['id']}")
            if actor is not None:
                await audit.record(actor, VITAL_RECORD, member_id=member["id"], detail=r["kind"])
    in_list = marks(ids)
    rows = await fetch(_VITAL_SQL + f" WHERE v.id IN ({in_list}) ORDER BY v.id", *ids)
    return [_vital_view(r) for r in rows]


def _vital_summary(view: VitalView) -> str:
    """A reading for the timeline: kind, value, the glucose context and any flag, translated when read."""
    args: dict[str, str | timeline.Label] = {
        "kind": timeline.Label("vital_kind", view.kind),
        "value": timeline.Label("vital_value", view.value_code),
    }
    if view.kind == "glucose":
        args["context"] = timeline.Label("glucose_context", view.glucose_context)
    if view.flag:
        args["flag"] = timeline.Label("vital_flag", view.flag)
    msgid = {
        (False, False): N_("%(kind)s: %(value)s"),
        (True, False): N_("%(kind)s: %(value)s (%(context)s)"),
        (False, True): N_("%(kind)s: %(value)s — %(flag)s"),
        (True, True): N_("%(kind)s: %(value)s (%(context)s) — %(flag)s"),
    }[("context" in args, "flag" in args)]
    return timeline.message(msgid, **args)


def _same(stored: object, new: object) -> bool:
    if stored is None or new is None:
        return stored is None and new is None
    if isinstance(new, float) or isinstance(stored, float):
        return abs(float(stored) - float(new)) < 1e-3
    return stored == new


async def vitals(member_id: int, since: datetime | None = None) -> list[VitalView]:
    """Readings newest first (since a time, or all)."""
    if since is None:
        rows = await fetch(_VITAL_SQL + " WHERE v.member = {} ORDER BY v.measured_at DESC, v.id DESC", member_id)
    else:
        rows = await fetch(
            _VITAL_SQL + " WHERE v.member = {} AND v.measured_at >= {} ORDER BY v.measured_at DESC, v.id DESC",
            member_id,
            since.astimezone(UTC),
        )
    return [_vital_view(r) for r in rows]


@dataclass(frozen=True)
class Bmi:
    """BMI from the latest weight and the latest height."""

    value: float
    category: str
    weight_kg: float
    height_cm: float

    @property
    def label(self) -> str:
        return bmi_category_label(self.category)

    @property
    def flag(self) -> str:
        return {"underweight": "low", "overweight": "high", "obese": "high"}.get(self.category, "")


async def latest(member_id: int) -> dict[str, VitalView]:
    """The latest reading per kind (per glucose context as `glucose:<context>`; `glucose` is the latest of any)."""
    rows = await fetch(
        "SELECT * FROM ("
        + _VITAL_SQL.replace(
            "SELECT ",
            "SELECT ROW_NUMBER() OVER (PARTITION BY v.kind,"
            " v.glucose_context ORDER BY v.measured_at DESC, v.id DESC) AS rn, ",
            1,
        )
        + " WHERE v.member = {}) t"
        " WHERE t.rn = 1",
        member_id,
    )
    found: dict[str, VitalView] = {}
    for view in sorted((_vital_view(r) for r in rows), key=lambda v: v.measured_at):
        found[view.kind] = view
        if view.kind == "glucose":
            found[f"glucose:{view.glucose_context}"] = view
    return found


def bmi_from(latest_readings: dict[str, VitalView]) -> Bmi | None:
    """BMI from the latest weight and height, or None without both."""
    weight, height = latest_readings.get("weight"), latest_readings.get("height")
    value = bmi(weight.weight_kg if weight else None, height.height_cm if height else None)
    if value is None:
        return None
    return Bmi(value, bmi_category(value), weight.weight_kg, height.height_cm)


async def latest_bmi(member_id: int) -> Bmi | None:
    """BMI from the member's latest weight and latest height."""
    return bmi_from(await latest(member_id))


# ---------------------------------------------------------------- charts (geometry only; templates draw them)


@dataclass
class ChartPoint:
    """A plotted reading."""

    x: float
    y: float
    value: str
    when: str
    flag: str


@dataclass
class ChartSeries:
    """One line or point set."""

    key: str
    label: str
    points: list[ChartPoint]
    line: bool

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass
class Chart:
    """An SVG chart's geometry in viewBox units; `empty` when there is nothing to plot."""

    key: str
    title: str
    unit: str
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    references: list[tuple[float, str]] = field(default_factory=list)
    series: list[ChartSeries] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(s.points for s in self.series)


CHART_WIDTH, CHART_HEIGHT = 720, 280
_MARGIN = {"left": 52, "right": 16, "top": 16, "bottom": 36}


def _frame(key: str, title: str, unit: str, lo: float, hi: float, step: float, start: datetime, end: datetime):
    chart = Chart(key, title, unit, CHART_WIDTH, CHART_HEIGHT, **_MARGIN)
    plot_w = CHART_WIDTH - chart.left - chart.right
    plot_h = CHART_HEIGHT - chart.top - chart.bottom
    span = (end - start).total_seconds()

    def x_of(when: datetime) -> float:
        return chart.left + plot_w * max(0.0, min(1.0, (when - start).total_seconds() / span))

    def y_of(value: float) -> float:
        return chart.top + plot_h * (1 - (value - lo) / (hi - lo))

    tick = lo
    while tick <= hi + 1e-9:
        chart.y_ticks.append((y_of(tick), f"{tick:g}"))
        tick += step
    zone = _zone()
    local_start = start.astimezone(zone)
    month = date(local_start.year, local_start.month, 1)
    index = 0
    while True:
        month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        when = datetime(month.year, month.month, 1, tzinfo=zone)
        if when > end:
            break
        if index % 2 == 0:
            chart.x_ticks.append((x_of(when), f"{month.year}-{month.month:02d}"))
        index += 1
    return chart, x_of, y_of


def _bounds(values: list[float], lo: float, hi: float, step: float) -> tuple[float, float]:
    if values:
        lo = min(lo, math.floor(min(values) / step) * step)
        hi = max(hi, math.ceil(max(values) / step) * step)
    return lo, hi


def bp_chart(readings: list[VitalView], end: datetime) -> Chart:
    """Systolic and diastolic lines over the last 12 months, with the 140/90 reference lines."""
    start = end - timedelta(days=CHART_DAYS)
    bp = sorted((v for v in readings if v.kind == "bp" and v.measured_at >= start), key=lambda v: v.measured_at)
    values = [float(v.systolic) for v in bp] + [float(v.diastolic) for v in bp]
    lo, hi = _bounds(values, 40, 200, 20)
    chart, x_of, y_of = _frame("bp", _("Blood pressure"), "mmHg", lo, hi, 20, start, end)
    chart.references = [(y_of(BP_HIGH[0]), "140"), (y_of(BP_HIGH[1]), "90")]
    zone = _zone()
    # Each line rings only its own out-of-range values (systolic ≥ 140 / < 90, diastolic ≥ 90 / < 60).
    lines = (("systolic", _("systolic"), 0), ("diastolic", _("diastolic"), 1))
    for key, label, i in lines:
        points = []
        for v in bp:
            value = v.systolic if i == 0 else v.diastolic
            flag = "high" if value >= BP_HIGH[i] else ("low" if value < BP_LOW[i] else "")
            when = v.measured_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            points.append(ChartPoint(x_of(v.measured_at), y_of(value), v.value_text, when, flag))
        chart.series.append(ChartSeries(key, label, points, line=True))
    return chart


def glucose_chart(readings: list[VitalView], end: datetime) -> Chart:
    """Glucose points per context over the last 12 months, with the 3.9 / 7.0 / 11.1 references."""
    start = end - timedelta(days=CHART_DAYS)
    glucose = sorted(
        (v for v in readings if v.kind == "glucose" and v.measured_at >= start), key=lambda v: v.measured_at
    )
    lo, hi = _bounds([v.glucose for v in glucose], 0, 16, 2)
    chart, x_of, y_of = _frame("glucose", _("Blood glucose"), "mmol/L", lo, hi, 2, start, end)
    chart.references = [(y_of(GLUCOSE_LOW), "3.9"), (y_of(7.0), "7.0"), (y_of(11.1), "11.1")]
    zone = _zone()
    for context in GLUCOSE_CONTEXTS:
        points = [
            ChartPoint(
                x_of(v.measured_at),
                y_of(v.glucose),
                v.value_text,
                v.measured_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                v.flag,
            )
            for v in glucose
            if v.glucose_context == context
        ]
        chart.series.append(ChartSeries(context, glucose_context_label(context), points, line=False))
    return chart


# ---------------------------------------------------------------- the sections' read models (audited)


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
    member = await _member(member_no)
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
    rows = await fetch(
        "SELECT a.id, a.allergen_class, a.substance, a.criticality, a.reaction, a.verification_status,"
        " a.clinical_status, a.recorded_at, s.display_name AS recorded_by FROM allergy a"
        " LEFT JOIN staff s ON s.id = a.recorded_by WHERE a.member = {} ORDER BY a.id",
        member_id,
    )
    changes = await _last_events(member_id, timeline.ALLERGY, "allergy-status:")
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
                recorded_at=_as_datetime(r["recorded_at"]),
                changed_by=changed_by,
                changed_at=changed_at,
            )
        )
    return sorted(records, key=lambda a: (not a.active, a.criticality != "high", a.label))


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


async def change_allergy(member_no: str, allergy_id: int | str, change: str, actor: StaffUser) -> AllergyRecord:
    """Resolve, refute, mark entered-in-error or reactivate an allergy (who and when go on the timeline).

    When the last active allergy goes, the member's allergy status returns to `unknown`: the counter then asks
    again instead of claiming "no known allergies" nobody said.
    """
    member = await _member(member_no)
    if change not in ALLERGY_CHANGES:
        raise ValidationFailed({"change": _("Unknown change.")})
    try:
        aid = int(allergy_id)
    except (TypeError, ValueError):
        aid = 0
    current = next((a for a in await allergy_records(member["id"]) if a.id == aid), None)
    if current is None:
        raise NotFound(_("No allergy %(id)s on this member's record.") % {"id": allergy_id})
    if change == "reactivate":
        if current.verification_status in ("refuted", "entered-in-error") or current.active:
            raise ValidationFailed({"change": _("Only a resolved allergy can be made active again.")})
        errors = await _consent_errors(member["id"])
        if errors:
            raise ValidationFailed(errors)
        assignments = "clinical_status = 'active'"
    elif not current.active:
        raise ValidationFailed({"change": _("This allergy is no longer active.")})
    elif change == "resolve":
        assignments = "clinical_status = 'resolved'"
    elif change == "refute":
        assignments = "clinical_status = 'inactive', verification_status = 'refuted'"
    else:
        assignments = "clinical_status = 'inactive', verification_status = 'entered-in-error'"
    now = datetime.now(UTC)
    async with transaction():
        await fetch(f"UPDATE allergy SET {assignments} WHERE id = {{}}", aid)
        remaining = await fetch(
            "SELECT COUNT(*) AS n FROM allergy WHERE member = {} AND clinical_status = 'active'"
            " AND verification_status NOT IN ('refuted', 'entered-in-error')",
            member["id"],
        )
        status = "has_allergies" if remaining[0]["n"] else "unknown"
        if status != member["allergy_status"]:
            await fetch(
                "UPDATE member SET allergy_status = {}, allergy_status_by = {}, allergy_status_at = {}, updated_at = {}"
                " WHERE id = {}",
                status,
                actor.id,
                now,
                now,
                member["id"],
            )
        label = timeline.Label("allergy", f"{current.allergen_class}|{current.substance or ''}")
        summary = timeline.message(_CHANGE_SUMMARIES[change], label=label)
        await timeline.record_event(member["id"], timeline.ALLERGY, summary, actor, ref=f"allergy-status:{aid}")
        await audit.record(actor, ALLERGY_CHANGE, member_id=member["id"], detail=f"{change}:{current.allergen_class}")
    return next(a for a in await allergy_records(member["id"]) if a.id == aid)


@dataclass
class PreferenceView:
    """One preference tag."""

    id: int
    kind: str
    value: str

    @property
    def label(self) -> str:
        return preference_label(self.kind, self.value)

    def as_json(self) -> dict:
        return {"kind": self.kind, "value": self.value, "label": self.label}


async def preferences(member_id: int) -> dict[str, list[PreferenceView]]:
    """kind → tags, every kind present (possibly empty), coded values in vocabulary order."""
    rows = await fetch("SELECT id, kind, value FROM member_preference WHERE member = {} ORDER BY id", member_id)
    found: dict[str, list[PreferenceView]] = {k: [] for k in PREFERENCE_KINDS}
    for r in rows:
        found.setdefault(r["kind"], []).append(PreferenceView(r["id"], r["kind"], r["value"]))
    for kind, values in PREFERENCE_VALUES.items():
        order = {v: i for i, v in enumerate(values)}
        found[kind].sort(key=lambda p: order.get(p.value, len(order)))
    return found


def _validate_preference(kind: str, value: str) -> tuple[dict[str, str], str, str]:
    kind = (kind or "").strip()
    value = (value or "").strip()
    errors: dict[str, str] = {}
    if kind not in PREFERENCE_KINDS:
        errors["kind"] = _("Choose brand, dosage form, contact channel or time of day.")
    elif kind == "brand":
        if not value:
            errors["value"] = _("Enter the brand.")
        elif len(value) > BRAND_MAX_LENGTH:
            errors["value"] = _("The brand is too long (60 characters at most).")
    elif value not in PREFERENCE_VALUES[kind]:
        errors["value"] = _("Choose one of the listed values.")
    return errors, kind, value


async def add_preference(member_no: str, kind: str, value: str, actor: StaffUser | None) -> PreferenceView:
    """Tag the member with a preference (brand | dosage_form | channel | contact_time); adding it twice is a no-op."""
    member = await _member(member_no)
    errors, kind, value = _validate_preference(kind, value)
    if errors:
        raise ValidationFailed(errors)
    async with transaction():
        rows = await fetch(
            "INSERT INTO member_preference (member, kind, value, created_at) VALUES ({}, {}, {}, {})"
            " ON CONFLICT (member, kind, value) DO NOTHING RETURNING id",
            member["id"],
            kind,
            value,
            datetime.now(UTC),
        )
        if rows:
            await timeline.record_event(
                member["id"],
                PREFERENCE_EVENT,
                timeline.message(
                    N_("Preference added: %(kind)s — %(value)s"),
                    kind=timeline.Label("preference_kind", kind),
                    value=timeline.Label("preference", f"{kind}|{value}"),
                ),
                actor,
                ref=f"preference:{rows[0]['id']}",
            )
    found = await fetch(
        "SELECT id FROM member_preference WHERE member = {} AND kind = {} AND value = {}", member["id"], kind, value
    )
    return PreferenceView(found[0]["id"], kind, value)


async def remove_preference(member_no: str, kind: str, value: str, actor: StaffUser | None) -> bool:
    """Remove a preference tag; True when there was one."""
    member = await _member(member_no)
    kind, value = (kind or "").strip(), (value or "").strip()
    async with transaction():
        rows = await fetch(
            "DELETE FROM member_preference WHERE member = {} AND kind = {} AND value = {} RETURNING id",
            member["id"],
            kind,
            value,
        )
        if rows:
            await timeline.record_event(
                member["id"],
                PREFERENCE_EVENT,
                timeline.message(
                    N_("Preference removed: %(kind)s — %(value)s"),
                    kind=timeline.Label("preference_kind", kind),
                    value=timeline.Label("preference", f"{kind}|{value}"),
                ),
                actor,
                ref=f"preference:{rows[0]['id']}",
            )
    return bool(rows)


@dataclass
class HealthRecord:
    """Everything the health section shows."""

    member_id: int
    member_no: str
    consent: bool
    allergy_status: str
    allergy_status_by: str | None
    allergy_status_at: datetime | None
    allergies: list[AllergyRecord]
    conditions: list[ConditionView]
    preferences: dict[str, list[PreferenceView]]

    @property
    def active_codes(self) -> set[str]:
        return {c.code for c in self.conditions if c.status == "active"}


async def health_record(member_no: str, actor: StaffUser, detail: str = "profile") -> HealthRecord:
    """Allergies (every status), conditions and preferences of a member; audited."""
    member = await _member(member_no)
    status = await fetch(
        "SELECT m.allergy_status_at, s.display_name AS status_by FROM member m"
        " LEFT JOIN staff s ON s.id = m.allergy_status_by WHERE m.id = {}",
        member["id"],
    )
    record = HealthRecord(
        member_id=member["id"],
        member_no=member["member_no"],
        consent=bool(member["consent_health"]),
        allergy_status=member["allergy_status"],
        allergy_status_by=status[0]["status_by"],
        allergy_status_at=_as_datetime(status[0]["allergy_status_at"]),
        allergies=await allergy_records(member["id"]),
        conditions=await conditions(member["id"]),
        preferences=await preferences(member["id"]),
    )
    await audit.record(actor, HEALTH_VIEW, member_id=member["id"], detail=detail)
    return record


async def member_timeline(member_no: str, actor: StaffUser, limit: int = 100) -> list[timeline.TimelineEvent]:
    """The member's timeline (it names health events, so the view is audited)."""
    member = await _member(member_no)
    events = await timeline.events(member["id"], limit=max(1, min(int(limit), 500)))
    await audit.record(actor, TIMELINE_VIEW, member_id=member["id"])
    return events


timeline.register_labeller("condition", condition_label)
timeline.register_labeller("condition_source", source_label)
timeline.register_labeller("vital_kind", vital_kind_label)
timeline.register_labeller("glucose_context", glucose_context_label)
timeline.register_labeller("vital_flag", flag_label)
timeline.register_labeller("vital_value", _value_text)
timeline.register_labeller("allergy", _allergy_label)
timeline.register_labeller("preference_kind", preference_kind_label)
timeline.register_labeller("preference", lambda code: preference_label(*code.partition("|")[::2]))
