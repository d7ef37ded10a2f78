"""A journey in words for its page: when each step runs, what it does, when it is skipped; the trigger's settings."""

from __future__ import annotations

from typing import Any

from app.components.care.definitions import TRIGGERS, skip_label, steps_from_json
from app.i18n import _


def _label(pairs: list[tuple[str, str]], code: str) -> str:
    return dict(pairs).get(code, code)


def steps_in_words(journey: dict[str, Any], choices: dict[str, Any]) -> list[dict[str, str]]:
    """Each step as (when, what, conditions), with codes as their labels in `choices` (the builder's lists)."""
    out = []
    for n, s in enumerate(steps_from_json(journey["steps"])):
        if s.after_days:
            when = _("Day %(d)s at %(t)s") % {"d": s.after_days, "t": s.at}
        else:
            when = _("Same day at %(t)s") % {"t": s.at}
        if s.action == "message":
            what = _("Message: %(t)s") % {"t": _label(choices["templates"], s.template)}
            if s.coupon:
                what += " + " + _("coupon %(c)s") % {"c": _label(choices["coupon_templates"], s.coupon)}
        elif s.action == "coupon":
            what = _("Coupon: %(c)s") % {"c": _label(choices["coupon_templates"], s.coupon)}
        else:
            what = _("Task for the %(role)s: %(kind)s") % {
                "role": _label(choices["roles"], s.role),
                "kind": _label(choices["task_kinds"], s.task_kind),
            }
            if s.priority == "urgent":
                what += " · " + _("urgent")
        out.append({"n": str(n + 1), "when": when, "what": what, "skips": " · ".join(skip_label(k) for k in s.skip_if)})
    return out


def params_in_words(journey: dict[str, Any], choices: dict[str, Any]) -> list[tuple[str, str]]:
    """The trigger's settings as (label, value) pairs."""
    out = []
    for p in TRIGGERS.get(journey["trigger"], ()):
        value = journey["trigger_params"].get(p.name, "")
        if value in ("", None):
            continue
        shown = _label(choices["param_choices"].get(p.name, []), str(value)) if p.kind == "choice" else str(value)
        out.append((_(p.label), shown))
    return out
