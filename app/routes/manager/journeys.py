"""Care journeys for managers: the list with per-journey numbers, the form-based builder with a live audience
count, a journey's steps and treated-vs-held-out results, new versions, switching on and off (HQ admins edit)."""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from app.components import care, catalog, coupons, health, messages
from app.components.core.clock import store_today
from app.components.core.roles import JOURNEY_READ_ROLES, JOURNEY_WRITE_ROLES
from app.i18n import _
from app.routes.guards import requires_role
from app.routes.render import go, render
from app.settings import get_settings

read_guard = [requires_role(JOURNEY_READ_ROLES)]
write_guard = [requires_role(JOURNEY_WRITE_ROLES)]


async def _form(request: Request) -> dict[str, str]:
    raw = await request.form()
    return {key: str(raw.get(key) or "") for key in raw}


async def _choices() -> dict[str, Any]:
    """The builder's drop-down lists, labelled in the reader's language."""
    return {
        "triggers": [(t, care.trigger_label(t)) for t in care.TRIGGERS],
        "params": care.TRIGGERS,
        "purposes": [(p, care.purpose_label(p)) for p in care.PURPOSES],
        "actions": [(a, care.action_label(a)) for a in care.ACTIONS],
        "templates": [
            (t.code, f"{t.label} · {care.purpose_label(t.purpose)}")
            for t in messages.templates()
            if t.purpose != "staff"
        ],
        "coupon_templates": [(t.code, t.name) for t in await coupons.templates() if t.active],
        "task_kinds": [(k, care.task_kind_label(k)) for k in care.TASK_KINDS],
        "roles": [(r, _role_label(r)) for r in care.TASK_ROLES],
        "priorities": [("normal", _("Normal")), ("urgent", _("Urgent"))],
        "skips": [(s, care.skip_label(s)) for s in care.SKIPS],
        "param_choices": {
            "category": [(c, catalog.category_l1_label(c)) for c in catalog.CATEGORIES_L1],
            "code": [(c.code, c.label) for c in health.CONDITIONS.values()],
            "kind": [("bp", _("Blood pressure")), ("glucose", _("Blood glucose"))],
            "audience": [(a, care.audience_label(a)) for a in care.CALENDAR_AUDIENCES],
        },
    }


def _role_label(role: str) -> str:
    return {"pharmacist": _("Pharmacist"), "store_manager": _("Store manager"), "service": _("Customer service")}.get(
        role, role
    )


async def _count(form: dict[str, str]) -> int | None:
    d, errors = care.parse_definition(form, await care.known())
    if any(k == "trigger" or k.startswith("p_") for k in errors):
        return None
    return await care.audience(d, form.get("code", ""), store_today(), get_settings().timezone)


async def _builder(
    request: Request, form: dict[str, str], errors: dict[str, str], code: str | None, status_code: int = 200
) -> Template:
    rows = care.step_count(form)
    ctx = {
        "form": form,
        "errors": errors,
        "code": code,
        "step_rows": range(rows),
        "max_steps": care.MAX_STEPS,
        "audience_pending": True,  # counted by its own request: at a chain's size it takes seconds
        **await _choices(),
    }
    template = "manager/journey_form.html"
    return render(request, template, ctx, block="builder", status_code=status_code)


_STEP_FIELD = re.compile(r"^s(\d+)_(.+)$")


def _edited(form: dict[str, str], op: str) -> dict[str, str]:
    """The draft after an add-step or remove-step tap (the fields of later steps move up one)."""
    if op == "add_step":
        n = care.step_count(form)
        if n < care.MAX_STEPS:
            form.update({f"s{n}_action": "message", f"s{n}_after_days": "0", f"s{n}_at": "10:00"})
        return form
    if not (op.startswith("remove_step:") and op[12:].isdigit()):
        return form
    gone = int(op[12:])
    out: dict[str, str] = {}
    for key, value in form.items():
        m = _STEP_FIELD.match(key)
        if m is None:
            out[key] = value
        elif int(m[1]) != gone:
            n = int(m[1])
            out[f"s{n - 1 if n > gone else n}_{m[2]}"] = value
    return out


@get("/journeys", guards=read_guard)
async def journey_list(request: Request) -> Template:
    """Every journey's current version: trigger, on/off, enrolled, held out and running members."""
    rows = []
    for j in await care.journeys():
        stats = await care.enrolment_totals(await care.version_ids(j["code"]))
        rows.append({"j": j, "trigger": care.trigger_label(j["trigger"]), "stats": stats})
    ctx = {"rows": rows, "can_edit": request.user.role in JOURNEY_WRITE_ROLES}
    return render(request, "manager/journeys.html", ctx)


@get("/journeys/new", guards=write_guard)
async def new_journey(request: Request) -> Template:
    """An empty builder: one message step."""
    form = {"purpose": "care", "trigger": "purchase", "holdout_pct": "0", "s0_action": "message", "s0_after_days": "0"}
    form["s0_at"] = "10:00"
    return await _builder(request, form, {}, None)


@post("/journeys/draft", guards=write_guard)
async def journey_draft(request: Request) -> Template:
    """The builder again after a change of trigger or action, an added or removed step: the fields that fit, the
    values typed so far and the live audience count."""
    form = await _form(request)
    form = _edited(form, form.pop("op", ""))
    code = form.get("code") or None
    return await _builder(request, form, {}, code)


@post("/journeys/preview", guards=write_guard)
async def journey_preview(request: Request) -> Template:
    """Just the live audience count of the draft."""
    form = await _form(request)
    return render(request, "manager/_journey_count.html", {"audience": await _count(form)})


async def _save(request: Request, code: str | None) -> Response:
    form = await _form(request)
    d, errors = care.parse_definition(form, await care.known())
    if errors:
        return await _builder(request, form, errors, code, status_code=422)
    saved = await care.save_journey(code, d, request.user)
    return go(request, f"/manager/journeys/{saved}")


@post("/journeys", guards=write_guard)
async def create_journey(request: Request) -> Response:
    """Save the builder as a new journey (switched off until an admin switches it on)."""
    return await _save(request, None)


@get("/journeys/{code:str}", guards=read_guard)
async def journey_page(request: Request, code: FromPath[str]) -> Template:
    """One journey: its steps in words, per-step counts, treated vs held out with 95 % intervals, its versions,
    and for HQ admins the builder to save a new version."""
    j = await care.journey(code)
    versions = await care.versions(code)
    stats = await care.journey_stats([v["id"] for v in versions], store_today())
    choices = await _choices()
    ctx = {
        "j": j,
        "trigger": care.trigger_label(j["trigger"]),
        "purpose": care.purpose_label(j["purpose"]),
        "steps": care.steps_in_words(j, choices),
        "trigger_settings": care.params_in_words(j, choices),
        "comparison": [
            (_("Bought again within 30 days"), stats.repurchase, "%"),
            (_("Revenue per member within 30 days"), stats.revenue, "¥"),
            (_("Days covered now (PDC, chronic therapies)"), stats.pdc, "%"),
        ],
        "versions": versions,
        "stats": stats,
        "can_edit": request.user.role in JOURNEY_WRITE_ROLES,
    }
    if ctx["can_edit"]:
        form = care.to_form(care.definition_of(j))
        form["code"] = code
        ctx.update(
            form=form,
            errors={},
            code=code,
            step_rows=range(care.step_count(form)),
            max_steps=care.MAX_STEPS,
            audience_pending=True,
            **choices,
        )
    return render(request, "manager/journey.html", ctx)


@post("/journeys/{code:str}", guards=write_guard)
async def save_version(request: Request, code: FromPath[str]) -> Response:
    """Save the builder as a new version of `code`; members already enrolled finish on theirs."""
    await care.journey(code)
    return await _save(request, code)


@post("/journeys/{code:str}/switch", guards=write_guard)
async def switch(request: Request, code: FromPath[str]) -> Response:
    """Switch the journey on or off (`on` = 1 / 0); off ends every running enrolment."""
    form = await _form(request)
    await care.switch_journey(code, form.get("on") == "1", request.user)
    return go(request, f"/manager/journeys/{code}")


ROUTES = [
    journey_list,
    new_journey,
    journey_draft,
    journey_preview,
    create_journey,
    journey_page,
    save_version,
    switch,
]
