"""Conditions: the coded vocabulary (app/data/conditions.csv), declared, inferred from purchases, confirmed, resolved.

An active condition is never doubled: a stronger source (inferred < declared < confirmed) upgrades it. Only a
pharmacist confirms. An inference a pharmacist dismissed is not made again.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

from app.components import audit, consents, events, timeline
from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import Role
from app.components.health import queries
from app.components.health.shared import consent_errors, store_zone
from app.components.health.shared import member as member_by_no
from app.db import as_date, as_datetime, transaction
from app.i18n import N_, _, pick

DATA = Path(__file__).resolve().parents[2] / "data"

# Audit actions.
CONDITION_RECORD = "condition.record"
CONDITION_CONFIRM = "condition.confirm"
CONDITION_RESOLVE = "condition.resolve"


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


def _condition_view(row: dict) -> ConditionView:
    return ConditionView(
        id=row["id"],
        code=row["code"],
        label=condition_label(row["code"]),
        source=row["source"],
        source_label=source_label(row["source"]),
        status=row["status"],
        onset=as_date(row["onset"]),
        note=row["note"] or "",
        evidence=row["evidence"] or "",
        recorded_by=row["recorded_by"],
        recorded_at=as_datetime(row["recorded_at"]),
        confirmed_by=row["confirmed_by"],
        confirmed_at=as_datetime(row["confirmed_at"]),
    )


async def conditions(member_id: int, include_resolved: bool = True) -> list[ConditionView]:
    """The member's conditions: active ones first (in vocabulary order), then resolved ones, newest first."""
    rows = await queries.conditions_of(member_id, include_resolved)
    views = [_condition_view(r) for r in rows]
    changes = await timeline.last_events(member_id, timeline.CONDITION, "condition-resolved:")
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
            today = datetime.now(store_zone()).date()
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
    row = await queries.condition(member_id, cid)
    if row is None:
        raise NotFound(_("No condition %(id)s on this member's record.") % {"id": condition_id})
    return _condition_view(row)


async def add_condition(member_no: str, data: NewCondition, actor: StaffUser) -> ConditionView:
    """Record a condition; an active one with the same code is upgraded by a stronger source, never doubled."""
    member = await member_by_no(member_no)
    errors, clean = validate_condition(data, actor)
    errors.update(await consent_errors(member["id"]))
    if errors:
        raise ValidationFailed(errors)
    now = datetime.now(UTC)
    async with transaction():
        existing = await queries.active_condition(member["id"], clean["code"])
        confirmed = clean["source"] == "confirmed"
        if existing:
            cid = existing["id"]
            if _SOURCE_RANK[clean["source"]] > _SOURCE_RANK.get(existing["source"], 0):
                await queries.upgrade_condition(
                    cid,
                    clean["source"],
                    actor.id if confirmed else None,
                    now if confirmed else None,
                    clean["onset"],
                    clean["note"],
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
            cid = await queries.insert_condition(
                member["id"],
                clean,
                actor.id,
                now,
                actor.id if confirmed else None,
                now if confirmed else None,
            )
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
            await _condition_added(cid, member["id"], clean["code"], clean["source"], now)
    return await _condition(member["id"], cid)


async def _condition_added(condition_id: int, member_id: int, code: str, source: str, now: datetime) -> None:
    await events.record(
        f"condition.added:{condition_id}",
        events.CONDITION_ADDED,
        member_id,
        None,
        {"code": code, "source": source},
        now,
    )


async def confirm_condition(member_no: str, condition_id: int | str, actor: StaffUser) -> ConditionView:
    """A pharmacist confirms a declared or inferred condition (who and when are kept)."""
    member = await member_by_no(member_no)
    view = await _condition(member["id"], condition_id)
    if actor.role != Role.PHARMACIST:
        raise ValidationFailed({"condition": _("Only a pharmacist can confirm a condition.")})
    if view.status != "active":
        raise ValidationFailed({"condition": _("A resolved condition cannot be confirmed.")})
    errors = await consent_errors(member["id"])
    if errors:
        raise ValidationFailed(errors)
    if view.source == "confirmed":
        return view
    async with transaction():
        await queries.confirm_condition(view.id, actor.id, datetime.now(UTC))
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
    member = await member_by_no(member_no)
    view = await _condition(member["id"], condition_id)
    if view.status != "active":
        return view
    async with transaction():
        await queries.resolve_condition(view.id)
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
        rows = await queries.condition_states(member_id)
        skip = {r["code"] for r in rows if r["status"] == "active" or r["source"] == "inferred"}
        for code, atc in found.items():
            if code in skip:
                continue
            inserted = await queries.insert_inferred(member_id, code, atc, actor.id if actor else None, now)
            created.append(inserted)
            await timeline.record_event(
                member_id,
                timeline.CONDITION,
                timeline.message(
                    N_("Condition inferred from a purchase (%(atc)s): %(label)s"),
                    atc=atc,
                    label=timeline.Label("condition", code),
                ),
                actor,
                ref=f"condition:{inserted}",
            )
            await _condition_added(inserted, member_id, code, "inferred", now)
    views = await conditions(member_id)
    return [v for v in views if v.id in created]


timeline.register_labeller("condition", condition_label)
timeline.register_labeller("condition_source", source_label)
