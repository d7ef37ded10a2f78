"""A task's outcome in a few taps: reached (with structured answers and a BP reading stored as a vital), not
reached (retry in N days; closed after three tries), wrong number. Once per task: a second submit changes
nothing. Each lands on the member's timeline, stored as a message code with parameters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.components import health, timeline
from app.components.care_tasks import queries
from app.components.care_tasks.tasks import TaskView, get_task, parse_days
from app.components.core.actor import StaffUser
from app.components.core.errors import ValidationFailed
from app.db import transaction
from app.i18n import N_, _

OUTCOMES = ("reached", "not_reached", "wrong_number")
TAKING = ("yes", "partly", "no")
MAX_NOT_REACHED = 3
RETRY_DAYS = (1, 14)
NOTE_MAX = 500
SIDE_EFFECTS_MAX = 200
TASK_EVENT = "task"


def outcome_label(outcome: str) -> str:
    """An outcome's name in the current language."""
    return {"reached": _("Reached"), "not_reached": _("Not reached"), "wrong_number": _("Wrong number")}.get(
        outcome, outcome
    )


def taking_label(value: str) -> str:
    """An answer to "taking it as prescribed?" in the current language."""
    return {"yes": _("Yes, as prescribed"), "partly": _("Partly"), "no": _("No")}.get(value, value)


timeline.register_labeller("task_outcome", outcome_label)
timeline.register_labeller("task_taking", taking_label)


@dataclass
class Outcome:
    """The outcome form as typed (strings), so nothing typed is lost when it comes back with errors."""

    outcome: str = ""
    retry_days: str = "2"
    taking: str = ""
    side_effects: str = ""
    systolic: str = ""
    diastolic: str = ""
    note: str = ""


def validate(form: Outcome) -> dict[str, str]:
    """Messages per field (the BP reading's bounds are checked by the health archive when it is stored)."""
    errors: dict[str, str] = {}
    if form.outcome not in OUTCOMES:
        errors["outcome"] = _("Choose what happened.")
    if form.outcome == "not_reached":
        try:
            parse_days(form.retry_days, "retry_days", RETRY_DAYS)
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if form.taking and form.taking not in TAKING:
        errors["taking"] = _("Choose one from the list.")
    if len(form.side_effects.strip()) > SIDE_EFFECTS_MAX:
        errors["side_effects"] = _("At most %(n)s characters.") % {"n": SIDE_EFFECTS_MAX}
    if len(form.note.strip()) > NOTE_MAX:
        errors["note"] = _("At most %(n)s characters.") % {"n": NOTE_MAX}
    if bool(form.systolic.strip()) != bool(form.diastolic.strip()):
        errors["systolic" if not form.systolic.strip() else "diastolic"] = _("Enter both blood pressure values.")
    return errors


async def record_outcome(task_id: int, form: Outcome, actor: StaffUser, now: datetime | None = None) -> TaskView:
    """Record the outcome (ValidationFailed per field, nothing stored); a task already closed is returned as it
    is (a double submit records nothing twice)."""
    now = now or datetime.now(UTC)
    task = await get_task(task_id, actor, audited=False)
    if task.status != "open":
        return task
    errors = validate(form)
    if errors:
        raise ValidationFailed(errors)
    answers: dict[str, str] = {}
    if form.taking:
        answers["taking"] = form.taking
    if form.side_effects.strip():
        answers["side_effects"] = form.side_effects.strip()
    note = form.note.strip()
    async with transaction():
        locked = await queries.task(task_id, lock=True)
        if locked is None or locked["status"] != "open" or int(locked["attempts"] or 0) != task.attempts:
            return await get_task(task_id, actor, audited=False)  # another submit got there first
        if form.systolic.strip():
            # Stored through the health archive: its bounds, its out-of-range flag and event apply.
            try:
                readings = await health.record_vital(
                    task.member_no,
                    health.NewVital(kind="bp", systolic=form.systolic.strip(), diastolic=form.diastolic.strip()),
                    actor,
                )
            except ValidationFailed as exc:
                raise ValidationFailed(
                    {k if k in ("systolic", "diastolic") else "systolic": v for k, v in exc.errors.items()}
                ) from None
            answers["bp"] = f"{form.systolic.strip()}/{form.diastolic.strip()}"
            answers["vital"] = str(readings[0].id) if readings else ""
        if form.outcome == "not_reached" and task.attempts + 1 < MAX_NOT_REACHED:
            days = parse_days(form.retry_days, "retry_days", RETRY_DAYS)
            await queries.retry(task_id, now + timedelta(days=days), answers, note)
            summary = timeline.message(
                N_("%(kind)s: not reached (try %(n)s of %(max)s), again in %(days)s days"),
                kind=timeline.Label("task_kind", task.kind),
                n=task.attempts + 1,
                max=MAX_NOT_REACHED,
                days=days,
            )
        else:
            await queries.close(task_id, form.outcome, answers, note, actor.id, now)
            summary = _summary(task, form, answers, note)
        await timeline.record_event(task.member_id, TASK_EVENT, summary, actor, ref=f"task:{task_id}")
    return await get_task(task_id, actor, audited=False)


def _summary(task: TaskView, form: Outcome, answers: dict[str, str], note: str) -> str:
    args: dict[str, str | int | timeline.Label] = {
        "kind": timeline.Label("task_kind", task.kind),
        "outcome": timeline.Label("task_outcome", form.outcome),
    }
    if form.outcome != "reached":
        return timeline.message(N_("%(kind)s: %(outcome)s"), **args)
    args["taking"] = timeline.Label("task_taking", answers.get("taking", "")) if answers.get("taking") else "—"
    args["side_effects"] = answers.get("side_effects") or "—"
    args["bp"] = answers.get("bp") or "—"
    args["note"] = note or "—"
    return timeline.message(
        N_(
            "%(kind)s: %(outcome)s · taking as prescribed: %(taking)s · side effects: %(side_effects)s"
            " · BP %(bp)s · %(note)s"
        ),
        **args,
    )
