"""The pharmacist's task queue at the counter: today's and overdue tasks (mine, my store's), a task with the
member's record beside it, and its outcome, reassignment or snooze in a few taps."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Template

from app.components import care_tasks
from app.components.core.errors import ValidationFailed
from app.routes.params import RowId
from app.routes.render import FORM, render

Scope = Annotated[str, Parameter(pattern="^(mine|store)$", default="mine")]


def _outcome_choices() -> dict:
    return {
        "outcomes": [(o, care_tasks.outcome_label(o)) for o in care_tasks.OUTCOMES],
        "outcome_labels": {o: care_tasks.outcome_label(o) for o in care_tasks.OUTCOMES},
        "takings": [(t, care_tasks.taking_label(t)) for t in care_tasks.TAKING],
        "max_tries": care_tasks.MAX_NOT_REACHED,
    }


@get("/tasks")
async def task_queue(request: Request, scope: Scope = "mine") -> Template:
    """Today's and overdue open tasks, urgent first, then by due time: mine (or untaken for my role) or my
    store's."""
    tasks = await care_tasks.my_queue(request.user, scope)
    return render(request, "counter/tasks.html", {"tasks": tasks, "scope": scope})


async def _task_page(
    request: Request, task_id: int, form: dict | None = None, errors: dict | None = None, status_code: int = 200
) -> Template:
    task = await care_tasks.get_task(task_id, request.user)
    ctx = {
        "task": task,
        "form": form or asdict(care_tasks.Outcome()),
        "errors": errors or {},
        "staff": await care_tasks.assignable_staff(request.user, task),
        **_outcome_choices(),
    }
    return render(
        request, "counter/task.html", ctx, block="task_actions" if errors is not None else None, status_code=status_code
    )


@get("/tasks/{task_id:int}")
async def task_page(request: Request, task_id: RowId) -> Template:
    """One task: the member's contact, allergies, conditions, adherence, last purchases and timeline beside the
    journey step that made it, and the outcome form (opening it is an audited view of health data)."""
    return await _task_page(request, task_id)


@post("/tasks/{task_id:int}/outcome")
async def task_outcome(
    request: Request, task_id: RowId, data: Annotated[care_tasks.Outcome, FORM]
) -> Response | Template:
    """Record the outcome; 422 with the messages next to the fields and everything typed kept."""
    try:
        await care_tasks.record_outcome(task_id, data, request.user)
    except ValidationFailed as exc:
        return await _task_page(request, task_id, asdict(data), exc.errors, status_code=422)
    page = await _task_page(request, task_id, errors={})
    page.headers["HX-Trigger"] = "task-saved"  # the timeline beside it reloads and shows the outcome
    return page


@post("/tasks/{task_id:int}/reassign")
async def task_reassign(request: Request, task_id: RowId) -> Template:
    """Give the task to a colleague of the store (empty: back to the role's pool)."""
    raw = (await request.form()).get("assignee") or ""
    try:
        staff_id = int(raw) if str(raw).isdigit() else None
        await care_tasks.reassign(task_id, staff_id, request.user)
    except ValidationFailed as exc:
        return await _task_page(request, task_id, errors=exc.errors, status_code=422)
    return await _task_page(request, task_id, errors={})


@post("/tasks/{task_id:int}/snooze")
async def task_snooze(request: Request, task_id: RowId) -> Template:
    """Hide the task for 1–14 days."""
    days = str((await request.form()).get("days") or "")
    try:
        await care_tasks.snooze(task_id, days, request.user)
    except ValidationFailed as exc:
        return await _task_page(request, task_id, {"days": days}, exc.errors, status_code=422)
    return await _task_page(request, task_id, errors={})


ROUTES = [task_queue, task_page, task_outcome, task_reassign, task_snooze]
