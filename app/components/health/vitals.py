"""Vitals: blood pressure, glucose, weight and height over time, validated against plausible bounds and flagged.

Every reading needs the health-data consent and lands on the timeline with its flag; the same reading at the
same given time is stored once, so re-importing a file changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from app.components import audit, consents, events, timeline
from app.components.core import bounds
from app.components.core.actor import StaffUser
from app.components.core.errors import ValidationFailed
from app.components.health import queries
from app.components.health.shared import consent_errors, store_zone
from app.components.health.shared import member as member_by_no
from app.components.health.thresholds import (
    BOUNDS,
    GLUCOSE_CONTEXTS,
    MAX_AGE_DAYS,
    VITAL_KINDS,
    VITAL_SOURCES,
    bmi,
    bmi_category,
    bmi_category_label,
    bp_flag,
    flag_label,
    glucose_context_label,
    glucose_flag,
    vital_kind_label,
)
from app.db import as_datetime, transaction
from app.i18n import N_, _

VITAL_RECORD = "vital.record"


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
        when = raw if raw.tzinfo else raw.replace(tzinfo=store_zone())
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
            when = when.replace(tzinfo=store_zone())
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
        measured_at=as_datetime(row["measured_at"]),
        source=row["source"],
        recorded_by=row["recorded_by"],
    )


async def record_vital(
    member_no: str, data: NewVital, actor: StaffUser | None, source: str = "counter"
) -> list[VitalView]:
    """Validate and store one measurement (or several kinds at once when `kind` is empty), flagged.

    The same reading at the same given time is stored once (so re-importing a file changes nothing).
    Returns the stored readings, one per kind.
    """
    member = await member_by_no(member_no)
    if source not in VITAL_SOURCES:
        raise ValidationFailed({"source": _("Unknown source.")})
    explicit_time = _filled(data.measured_at)
    errors, readings = validate_vital(data)
    errors.update(await consent_errors(member["id"]))
    if errors:
        raise ValidationFailed(errors)
    ids: list[int] = []
    async with transaction():
        for r in readings:
            if explicit_time:
                same = await queries.readings_at(member["id"], r["kind"], r["measured_at"])
                twin = next((s for s in same if all(_same(s[c], r[c]) for c in queries.VALUE_COLUMNS)), None)
                if twin is not None:
                    ids.append(twin["id"])
                    continue
            new_id = await queries.insert_vital(member["id"], r, source, actor.id if actor else None)
            ids.append(new_id)
            view = _vital_view({**r, "id": new_id, "source": source, "recorded_by": None})
            summary = _vital_summary(view)
            await timeline.record_event(member["id"], timeline.VITAL, summary, actor, ref=f"vital:{new_id}")
            if actor is not None:
                await audit.record(actor, VITAL_RECORD, member_id=member["id"], detail=r["kind"])
            if view.flag and source != "import" and _recent(r["measured_at"]):
                await events.record(
                    f"vital.out_of_range:{new_id}",
                    events.VITAL_OUT_OF_RANGE,
                    member["id"],
                    actor.store_id if actor else None,
                    {"kind": r["kind"], "flag": view.flag, "vital": new_id},
                    datetime.now(UTC),
                )
    rows = await queries.vitals_by_ids(ids)
    return [_vital_view(r) for r in rows]


# A reading taken longer ago than this is history being entered, not a patient to call about today.
OUT_OF_RANGE_RECENT = timedelta(days=2)


def _recent(measured_at: datetime | None) -> bool:
    return measured_at is None or datetime.now(UTC) - measured_at <= OUT_OF_RANGE_RECENT


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
    rows = await queries.vitals_of(member_id, since.astimezone(UTC) if since is not None else None)
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
    rows = await queries.latest_vitals(member_id)
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


timeline.register_labeller("vital_kind", vital_kind_label)
timeline.register_labeller("glucose_context", glucose_context_label)
timeline.register_labeller("vital_flag", flag_label)
timeline.register_labeller("vital_value", _value_text)
