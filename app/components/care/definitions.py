"""What a journey may say: its triggers with their bounded parameters, its steps, and the builder form's fields."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.components.care_tasks import KINDS as TASK_KINDS
from app.i18n import N_, _

PURPOSES = ("care", "marketing", "service")
ACTIONS = ("message", "task", "coupon")
SKIPS = ("repurchased", "task_open")
TASK_ROLES = ("pharmacist", "store_manager", "service")
PRIORITIES = ("normal", "urgent")
CALENDAR_AUDIENCES = ("all", "chronic", "seniors")
VITAL_TRIGGER_KINDS = ("bp", "glucose")
MAX_STEPS = 6
MAX_PREFIXES = 8
MAX_DELAY_DAYS = 365
# Date-driven sweeps look this many days back, so a day the worker was down is caught up (the keys dedupe).
LOOKBACK_DAYS = 3
# How long after its anchor day a member who buys again counts as converted (and "repurchased" skips).
CONVERSION_DAYS = 30
SENIOR_AGE = 60

# Triggers the event handler enrols from (one member at a time, as the event happens); the others are swept daily.
EVENT_TRIGGERS = frozenset({"purchase", "condition", "new_member", "vital"})
SWEPT_TRIGGERS = frozenset({"birthday", "churn", "refill_due", "calendar", "unverified"})


@dataclass(frozen=True)
class Param:
    """One trigger parameter: an integer within bounds, a code from a list, or a short code-like text."""

    name: str
    label: str  # msgid
    kind: str  # int | choice | text
    lo: int = 0
    hi: int = 0
    default: str = ""
    required: bool = True


TRIGGERS: dict[str, tuple[Param, ...]] = {
    "purchase": (
        Param("atc_prefix", N_("ATC code starts with"), "text", 1, 7, required=False),
        Param("category", N_("Product category"), "choice", required=False),
    ),
    "condition": (Param("code", N_("Condition"), "choice"),),
    "new_member": (),
    "birthday": (Param("days_before", N_("Days before the birthday"), "int", 0, 30, "0"),),
    "churn": (Param("days", N_("Days without a purchase"), "int", 30, 365, "60"),),
    "refill_due": (
        Param("lead_days", N_("Days before the medicine runs out"), "int", 0, 30, "5"),
        Param("atc_prefix", N_("ATC code starts with"), "text", 1, 7, required=False),
    ),
    "vital": (Param("kind", N_("Reading"), "choice", default="bp"),),
    "calendar": (
        Param("month", N_("Month"), "int", 1, 12, "1"),
        Param("day", N_("Day"), "int", 1, 31, "1"),
        Param("audience", N_("Who"), "choice", default="all"),
    ),
    "unverified": (Param("months", N_("Months since the details were confirmed"), "int", 1, 36, "12"),),
}


def trigger_label(trigger: str) -> str:
    """A trigger's name in the current language."""
    return {
        "purchase": _("Bought a product (ATC code or category)"),
        "condition": _("Condition tag added"),
        "new_member": _("New member"),
        "birthday": _("Birthday"),
        "churn": _("No purchase for N days (chronic patients)"),
        "refill_due": _("Refill due"),
        "vital": _("Reading out of range"),
        "calendar": _("Calendar date"),
        "unverified": _("Details not confirmed for N months"),
    }.get(trigger, trigger)


def purpose_label(purpose: str) -> str:
    """A journey purpose's name in the current language."""
    return {"care": _("Care"), "marketing": _("Marketing"), "service": _("Service")}.get(purpose, purpose)


def action_label(action: str) -> str:
    """A step action's name in the current language."""
    return {"message": _("Send a message"), "task": _("Create a task"), "coupon": _("Issue a coupon")}.get(
        action, action
    )


def skip_label(skip: str) -> str:
    """A step condition's name in the current language."""
    return {"repurchased": _("Skip if the member bought again"), "task_open": _("Skip if a task is still open")}.get(
        skip, skip
    )


def audience_label(audience: str) -> str:
    """A calendar audience's name in the current language."""
    return {"all": _("All members"), "chronic": _("Chronic patients"), "seniors": _("Members aged 60 and over")}.get(
        audience, audience
    )


@dataclass(frozen=True)
class Step:
    """After `after_days` (counted from the enrolment's anchor day) at `at` local time: one action."""

    after_days: int
    at: str
    action: str
    template: str = ""  # message
    coupon: str = ""  # coupon template (a coupon step, or a coupon sent with a message)
    task_kind: str = ""
    role: str = "pharmacist"
    priority: str = "normal"
    skip_if: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "after_days": self.after_days,
            "at": self.at,
            "action": self.action,
            "template": self.template,
            "coupon": self.coupon,
            "task_kind": self.task_kind,
            "role": self.role,
            "priority": self.priority,
            "skip_if": list(self.skip_if),
        }


@dataclass(frozen=True)
class Definition:
    """A journey as the builder edits it (before it is saved as a version)."""

    name_zh: str
    name_en: str
    purpose: str
    trigger: str
    params: dict[str, Any]
    steps: tuple[Step, ...]
    holdout_pct: int = 0


@dataclass(frozen=True)
class Known:
    """The codes a definition may name, read from the domains that own them."""

    templates: Mapping[str, str]  # message template code → its purpose (care, marketing, service)
    coupons: frozenset[str]
    categories: frozenset[str]
    conditions: frozenset[str] = field(default_factory=frozenset)


def prefixes(value: str) -> tuple[str, ...]:
    """The ATC prefixes of a parameter ("C02 C03 C07")."""
    return tuple(value.split()) if value else ()


_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_CODE = re.compile(r"^[A-Z0-9]+$")


def choices(param: Param, known: Known) -> frozenset[str]:
    """The codes a choice parameter accepts."""
    if param.name == "category":
        return known.categories
    if param.name == "code":
        return known.conditions
    if param.name == "kind":
        return frozenset(VITAL_TRIGGER_KINDS)
    if param.name == "audience":
        return frozenset(CALENDAR_AUDIENCES)
    return frozenset()


def _int(raw: str, lo: int, hi: int) -> int | None:
    text = (raw or "").strip()
    if not re.fullmatch(r"-?\d{1,6}", text):
        return None
    value = int(text)
    return value if lo <= value <= hi else None


def parse_params(trigger: str, form: dict[str, str], known: Known, errors: dict[str, str]) -> dict[str, Any]:
    """The trigger's parameters from `p_<name>` fields; a message per bad field in `errors`."""
    params: dict[str, Any] = {}
    for p in TRIGGERS.get(trigger, ()):
        key = f"p_{p.name}"
        raw = (form.get(key) or "").strip()
        if not raw and not p.required:
            params[p.name] = ""
            continue
        if p.kind == "int":
            value = _int(raw, p.lo, p.hi)
            if value is None:
                errors[key] = _("Enter a whole number from %(lo)s to %(hi)s.") % {"lo": p.lo, "hi": p.hi}
                continue
            params[p.name] = value
        elif p.kind == "choice":
            if raw not in choices(p, known):
                errors[key] = _("Choose one from the list.")
                continue
            params[p.name] = raw
        else:
            codes = raw.upper().replace(",", " ").split()
            if (
                not codes
                or len(codes) > MAX_PREFIXES
                or not all(p.lo <= len(c) <= p.hi and _CODE.match(c) for c in codes)
            ):
                errors[key] = _(
                    "Enter up to %(n)s codes of %(lo)s to %(hi)s letters or digits, separated by spaces."
                ) % {
                    "n": MAX_PREFIXES,
                    "lo": p.lo,
                    "hi": p.hi,
                }
                continue
            params[p.name] = " ".join(codes)
    if trigger == "purchase" and "p_atc_prefix" not in errors and "p_category" not in errors:
        if not params.get("atc_prefix") and not params.get("category"):
            errors["p_atc_prefix"] = _("Give an ATC code prefix or a category.")
    if trigger == "calendar" and not errors.get("p_day") and not errors.get("p_month"):
        try:
            date(2024, int(params["month"]), int(params["day"]))  # a leap year: 29 Feb is a date
        except (KeyError, ValueError):
            errors["p_day"] = _("That day does not exist in that month.")
    return params


def parse_step(n: int, form: dict[str, str], known: Known, errors: dict[str, str], purpose: str = "") -> Step | None:
    """Step `n` of a `purpose` journey from its `s<n>_<field>` fields, or None when its action is empty (a
    removed step)."""
    prefix = f"s{n}_"
    action = (form.get(prefix + "action") or "").strip()
    if not action:
        return None
    if action not in ACTIONS:
        errors[prefix + "action"] = _("Choose one from the list.")
        return None
    after = _int(form.get(prefix + "after_days", ""), 0, MAX_DELAY_DAYS)
    if after is None:
        errors[prefix + "after_days"] = _("Enter a whole number from %(lo)s to %(hi)s.") % {
            "lo": 0,
            "hi": MAX_DELAY_DAYS,
        }
    at = (form.get(prefix + "at") or "10:00").strip()
    if not _TIME.match(at):
        errors[prefix + "at"] = _("Enter a time of day as HH:MM.")
    template = (form.get(prefix + "template") or "").strip()
    coupon = (form.get(prefix + "coupon") or "").strip()
    task_kind = (form.get(prefix + "task_kind") or "").strip()
    role = (form.get(prefix + "role") or "pharmacist").strip()
    priority = (form.get(prefix + "priority") or "normal").strip()
    if action == "message" and template not in known.templates:
        errors[prefix + "template"] = _("Choose a message template.")
    elif action == "message" and purpose in PURPOSES and known.templates[template] != purpose:
        # The outbox refuses a template of another purpose: its consent would not be the one checked.
        errors[prefix + "template"] = _("This template is for %(kind)s messages, not for a %(purpose)s journey.") % {
            "kind": purpose_label(known.templates[template]),
            "purpose": purpose_label(purpose),
        }
    if (action == "coupon" or coupon) and coupon not in known.coupons:
        errors[prefix + "coupon"] = _("Choose an active coupon template.")
    if action == "task":
        if task_kind not in TASK_KINDS:
            errors[prefix + "task_kind"] = _("Choose one from the list.")
        if role not in TASK_ROLES:
            errors[prefix + "role"] = _("Choose one from the list.")
        if priority not in PRIORITIES:
            errors[prefix + "priority"] = _("Choose one from the list.")
    skips = tuple(s for s in SKIPS if form.get(prefix + "skip_" + s))
    return Step(after or 0, at, action, template, coupon, task_kind, role, priority, skips)


def parse_definition(form: dict[str, str], known: Known) -> tuple[Definition, dict[str, str]]:
    """The builder form as a definition, with a message per bad field (an empty dict when it may be saved)."""
    errors: dict[str, str] = {}
    name_zh = (form.get("name_zh") or "").strip()
    name_en = (form.get("name_en") or "").strip()
    if not name_zh:
        errors["name_zh"] = _("Give the journey a name.")
    for key, value in (("name_zh", name_zh), ("name_en", name_en)):
        if len(value) > 60:
            errors[key] = _("At most %(n)s characters.") % {"n": 60}
    purpose = (form.get("purpose") or "care").strip()
    if purpose not in PURPOSES:
        errors["purpose"] = _("Choose one from the list.")
    trigger = (form.get("trigger") or "").strip()
    params: dict[str, Any] = {}
    if trigger not in TRIGGERS:
        errors["trigger"] = _("Choose one from the list.")
    else:
        params = parse_params(trigger, form, known, errors)
    holdout = _int(form.get("holdout_pct") or "0", 0, 50)
    if holdout is None:
        errors["holdout_pct"] = _("Enter a whole number from %(lo)s to %(hi)s.") % {"lo": 0, "hi": 50}
    steps = tuple(s for n in range(MAX_STEPS) if (s := parse_step(n, form, known, errors, purpose)) is not None)
    if not steps and "s0_action" not in errors:
        errors["s0_action"] = _("A journey needs at least one step.")
    if purpose == "marketing" and any(s.action == "task" for s in steps):
        # A call list built for marketing would reach members who only agreed to care.
        errors["purpose"] = _("A marketing journey sends messages and coupons; tasks belong to care journeys.")
    return Definition(name_zh, name_en, purpose, trigger, params, steps, holdout or 0), errors


def steps_from_json(raw: list[dict[str, Any]]) -> tuple[Step, ...]:
    """Stored steps back as `Step`s."""
    return tuple(
        Step(
            int(s["after_days"]),
            str(s.get("at") or "10:00"),
            str(s["action"]),
            str(s.get("template") or ""),
            str(s.get("coupon") or ""),
            str(s.get("task_kind") or ""),
            str(s.get("role") or "pharmacist"),
            str(s.get("priority") or "normal"),
            tuple(s.get("skip_if") or ()),
        )
        for s in raw
    )


def to_form(d: Definition) -> dict[str, str]:
    """A definition as the builder's field values (to edit a saved journey as a new version)."""
    form = {
        "name_zh": d.name_zh,
        "name_en": d.name_en,
        "purpose": d.purpose,
        "trigger": d.trigger,
        "holdout_pct": str(d.holdout_pct),
    }
    for name, value in d.params.items():
        form[f"p_{name}"] = str(value)
    for n, s in enumerate(d.steps):
        p = f"s{n}_"
        form.update(
            {
                p + "after_days": str(s.after_days),
                p + "at": s.at,
                p + "action": s.action,
                p + "template": s.template,
                p + "coupon": s.coupon,
                p + "task_kind": s.task_kind,
                p + "role": s.role,
                p + "priority": s.priority,
            }
        )
        for skip in s.skip_if:
            form[p + "skip_" + skip] = "1"
    return form


def step_count(form: dict[str, str]) -> int:
    """How many step rows the builder shows: the filled ones, at least one."""
    filled = [n for n in range(MAX_STEPS) if form.get(f"s{n}_action")]
    return max(filled, default=-1) + 1 or 1
