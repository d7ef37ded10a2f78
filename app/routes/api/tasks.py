"""JSON API v1 for the pharmacist's task queue (bearer token): my open tasks, and recording an outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import Parameter

from app.components import care_tasks
from app.components.core.roles import COUNTER_ROLES
from app.routes.api import schema as s
from app.routes.api.schema import SECURITY
from app.routes.guards import requires_role
from app.routes.params import RowId


class TaskOut(msgspec.Struct):
    id: int
    kind: Annotated[str, msgspec.Meta(description="follow_up_call | refill_call | churn_call | bp_review | …")]
    title: str
    priority: Annotated[str, msgspec.Meta(description="normal | urgent")]
    status: Annotated[str, msgspec.Meta(description="open | done")]
    member_no: str
    member_name: str
    due_at: datetime
    overdue: bool
    assignee: str | None
    attempts: int
    outcome: str
    answers: dict[str, Any]
    source: dict[str, Any]


class TasksOut(msgspec.Struct):
    tasks: list[TaskOut]


class OutcomeIn(s.Body):
    """What happened on the call; a BP reading is stored as a vital (its bounds apply)."""

    outcome: Annotated[str, msgspec.Meta(description="reached | not_reached | wrong_number")]
    retry_days: Annotated[int, msgspec.Meta(ge=1, le=14)] = 2
    taking: Annotated[str, msgspec.Meta(description="yes | partly | no, or empty", max_length=10)] = ""
    side_effects: Annotated[str, msgspec.Meta(max_length=200)] = ""
    systolic: Annotated[int, msgspec.Meta(ge=40, le=300)] | None = None
    diastolic: Annotated[int, msgspec.Meta(ge=20, le=200)] | None = None
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


def _task(t: care_tasks.TaskView) -> dict:
    return {
        "id": t.id,
        "kind": t.kind,
        "title": t.title,
        "priority": t.priority,
        "status": t.status,
        "member_no": t.member_no,
        "member_name": t.member_name,
        "due_at": t.due_at,
        "overdue": t.overdue,
        "assignee": t.assignee_name,
        "attempts": t.attempts,
        "outcome": t.outcome,
        "answers": t.answers,
        "source": t.source,
    }


@get(
    "/tasks",
    guards=[requires_role(COUNTER_ROLES)],
    security=SECURITY,
    tags=["tasks"],
    responses={200: s.ok(TasksOut, "Today's and overdue open tasks, urgent first, then by due time.")},
)
async def tasks(
    request: Request,
    assignee: Annotated[str, Parameter(pattern="^(me|store)$", description="me, or store (all of my store's)")] = "me",
    status: Annotated[str, Parameter(pattern="^open$", description="open (the queue)")] = "open",
) -> dict:
    """My open tasks (assigned to me, or untaken for my role at my store), or my store's."""
    found = await care_tasks.my_queue(request.user, "mine" if assignee == "me" else "store")
    return {"tasks": [_task(t) for t in found]}


@post(
    "/tasks/{task_id:int}/outcome",
    guards=[requires_role(COUNTER_ROLES)],
    security=SECURITY,
    tags=["tasks"],
    responses={200: s.ok(TaskOut, "The task after the outcome (a task already closed is returned as it is).")},
)
async def task_outcome(request: Request, task_id: RowId, data: OutcomeIn) -> Response:
    """Record a call's outcome; 404 for a task of another store, 422 with the field errors."""
    form = care_tasks.Outcome(
        outcome=data.outcome,
        retry_days=str(data.retry_days),
        taking=data.taking,
        side_effects=data.side_effects,
        systolic="" if data.systolic is None else str(data.systolic),
        diastolic="" if data.diastolic is None else str(data.diastolic),
        note=data.note,
    )
    task = await care_tasks.record_outcome(task_id, form, request.user)
    return Response(msgspec.to_builtins(_task(task)), status_code=200)


ROUTES = [tasks, task_outcome]
