"""Tasks: created once per key in the caller's transaction (an urgent one notifies the store's robot), the queue
of a person or a store, one task as the pharmacist opens it, reassigning and snoozing."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.components import audit, messages, timeline
from app.components.care_tasks import queries
from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import HQ_ROLES
from app.db import as_datetime, transaction
from app.i18n import N_, _, current_language, gettext
from app.settings import get_settings

KINDS = ("follow_up_call", "refill_call", "churn_call", "bp_review", "adherence_call", "other")
SNOOZE_DAYS = (1, 14)
TASK_VIEW = "task.view"
TASK_REASSIGN = "task.reassign"


def kind_label(kind: str) -> str:
    """A task kind's name in the current language."""
    return {
        "follow_up_call": _("Follow-up call"),
        "refill_call": _("Refill call"),
        "churn_call": _("Win-back call"),
        "bp_review": _("Blood pressure review"),
        "adherence_call": _("Adherence call"),
        "other": _("Other"),
    }.get(kind, kind)


timeline.register_labeller("task_kind", kind_label)


@dataclass(frozen=True)
class NewTask:
    """A task to create; `key` makes it once (a journey step's key)."""

    key: str
    member_id: int
    store_id: int | None
    kind: str
    priority: str
    role: str
    assignee_id: int | None
    due_at: datetime
    title: str
    params: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskView:
    """A task as the queue and the task screen show it."""

    id: int
    key: str
    member_id: int
    member_no: str
    member_name: str
    phone_masked: str
    store_id: int | None
    kind: str
    kind_label: str
    title: str
    priority: str
    role: str
    assignee_id: int | None
    assignee_name: str | None
    status: str
    due_at: datetime
    overdue: bool
    snoozed_until: datetime | None
    attempts: int
    outcome: str
    answers: dict[str, Any]
    note: str
    source: dict[str, Any]
    completed_by_name: str | None
    completed_at: datetime | None


def _localized(value: Any) -> Any:
    if isinstance(value, dict):
        key, other = ("en", "zh-CN") if current_language.get().startswith("en") else ("zh-CN", "en")
        return value.get(key) or value.get(other) or ""
    return value


def title_of(title: str, params: dict[str, Any]) -> str:
    """A task's title (a msgid with parameters) in the reader's language."""
    if not title:
        return ""
    text = gettext(title)
    try:
        return text % {k: _localized(v) for k, v in params.items()}
    except (KeyError, TypeError, ValueError):
        return text


def view(row: dict[str, Any], now: datetime | None = None) -> TaskView:
    """A task row (with member and staff names) as a view."""
    now = now or datetime.now(UTC)
    due = as_datetime(row["due_at"])
    assert due is not None
    return TaskView(
        id=row["id"],
        key=row["key"],
        member_id=row["member"],
        member_no=row["member_no"],
        member_name=row["member_name"],
        phone_masked=row["phone_masked"] or "",
        store_id=row["store"],
        kind=row["kind"],
        kind_label=kind_label(row["kind"]),
        title=title_of(row["title"], row["params"] or {}),
        priority=row["priority"],
        role=row["role"],
        assignee_id=row["assignee"],
        assignee_name=row["assignee_name"],
        status=row["status"],
        due_at=due,
        overdue=row["status"] == "open" and due < now - timedelta(hours=1),
        snoozed_until=as_datetime(row["snoozed_until"]),
        attempts=int(row["attempts"] or 0),
        outcome=row["outcome"] or "",
        answers=row["answers"] or {},
        note=row["note"] or "",
        source=row["source"] or {},
        completed_by_name=row["completed_by_name"],
        completed_at=as_datetime(row["completed_at"]),
    )


async def create_task(task: NewTask, now: datetime) -> int | None:
    """Create the task unless its key exists (the caller's transaction); the new id, or None.

    An urgent task also queues a notice to the store's robot webhook (sent when one is configured)."""
    new_id = await queries.insert(asdict(task), now)
    if new_id is not None and task.priority == "urgent" and task.store_id is not None:
        flat = {k: v for k, v in task.params.items() if isinstance(v, (str, int, dict))}
        await messages.queue_staff_notice(
            f"task:{task.key}", task.store_id, "urgent_task", {"title": task.title, **flat}, now
        )
    return new_id


async def open_task_exists(member_id: int, kind: str) -> bool:
    """Whether the member has an open task of `kind`."""
    return await queries.open_exists(member_id, kind)


def _store_of(actor: StaffUser, store_id: int | None) -> int | None:
    """The store a list is of: a store's staff see their own; HQ picks one (None: every store)."""
    if actor.role in HQ_ROLES:
        return store_id
    return actor.store_id


async def my_queue(
    actor: StaffUser, scope: str = "mine", now: datetime | None = None, limit: int = 200
) -> list[TaskView]:
    """Today's and overdue open tasks, urgent first then by due time: mine (assigned to me, or untaken for my
    role) or my store's."""
    now = now or datetime.now(UTC)
    zone = ZoneInfo(get_settings().timezone)
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    end_of_day = datetime.combine(tomorrow, time(0), zone).astimezone(UTC)
    store = _store_of(actor, None)
    if scope == "mine":
        rows = await queries.queue(store, actor.id, actor.role, end_of_day, limit)
    else:
        rows = await queries.queue(store, None, None, end_of_day, limit)
    return [view(r, now) for r in rows]


async def store_queue(actor: StaffUser, store_id: int | None, now: datetime | None = None) -> list[TaskView]:
    """A store's open tasks (the manager's view; HQ: the store asked for, or all)."""
    now = now or datetime.now(UTC)
    rows = await queries.queue(_store_of(actor, store_id), None, None, now + timedelta(days=365), 500)
    return [view(r, now) for r in rows]


@dataclass(frozen=True)
class AssigneeCount:
    """Open and overdue tasks of one assignee (or of nobody yet, for a role)."""

    assignee_id: int | None
    name: str
    open: int
    overdue: int


async def queue_counts(
    actor: StaffUser, store_id: int | None = None, now: datetime | None = None
) -> list[AssigneeCount]:
    """Per assignee: open and overdue tasks (a store manager's own store; HQ the store asked for, or all)."""
    now = now or datetime.now(UTC)
    rows = await queries.counts(_store_of(actor, store_id), now - timedelta(hours=1))
    return [
        AssigneeCount(
            r["assignee"],
            r["assignee_name"] or _("Not taken yet (%(role)s)") % {"role": r["role"]},
            int(r["open_n"]),
            int(r["overdue_n"] or 0),
        )
        for r in rows
    ]


async def get_task(task_id: int, actor: StaffUser, audited: bool = True) -> TaskView:
    """One task of the actor's store (HQ: any); NotFound names it otherwise. Opening it shows the member's health
    data, so the view is audited."""
    row = await queries.task(task_id)
    if row is None or (actor.role not in HQ_ROLES and row["store"] != actor.store_id):
        raise NotFound(_("No task %(id)s at your store.") % {"id": task_id})
    if audited:
        await audit.record(actor, TASK_VIEW, member_id=row["member"], detail=f"task {task_id}")
    return view(row)


async def member_tasks(member_id: int, status: str = "open", limit: int = 20) -> list[TaskView]:
    """A member's open (or closed) tasks."""
    return [view(r) for r in await queries.for_member(member_id, status, limit)]


async def assignable_staff(actor: StaffUser, task: TaskView) -> list[dict[str, Any]]:
    """Who at the task's store may take it."""
    if task.store_id is None:
        return []
    return await queries.store_staff(task.store_id)


async def reassign(task_id: int, staff_id: int | None, actor: StaffUser) -> TaskView:
    """Give the task to a colleague of its store (None: back to the role's pool)."""
    task = await get_task(task_id, actor, audited=False)
    if task.status != "open":
        raise ValidationFailed({"assignee": _("This task is already closed.")})
    if staff_id is not None:
        allowed = {s["id"] for s in await assignable_staff(actor, task)}
        if staff_id not in allowed:
            raise ValidationFailed({"assignee": _("Choose a colleague of this store.")})
    async with transaction():
        await queries.assign(task_id, staff_id)
        await audit.record(actor, TASK_REASSIGN, member_id=task.member_id, detail=f"task {task_id} → {staff_id}")
    return await get_task(task_id, actor, audited=False)


def parse_days(raw: str, field_name: str, bounds: tuple[int, int]) -> int:
    """A whole number of days within `bounds`, or ValidationFailed next to the field."""
    text = (raw or "").strip()
    if not text.isdigit() or not bounds[0] <= int(text) <= bounds[1]:
        raise ValidationFailed(
            {field_name: _("Enter a whole number of days from %(lo)s to %(hi)s.") % {"lo": bounds[0], "hi": bounds[1]}}
        )
    return int(text)


async def snooze(task_id: int, days_text: str, actor: StaffUser, now: datetime | None = None) -> TaskView:
    """Hide the task from the queue for 1–14 days."""
    now = now or datetime.now(UTC)
    task = await get_task(task_id, actor, audited=False)
    if task.status != "open":
        raise ValidationFailed({"days": _("This task is already closed.")})
    days = parse_days(days_text, "days", SNOOZE_DAYS)
    async with transaction():
        await queries.snooze(task_id, now + timedelta(days=days))
        await timeline.record_event(
            task.member_id,
            "task",
            timeline.message(
                N_("%(kind)s snoozed for %(days)s days"), kind=timeline.Label("task_kind", task.kind), days=days
            ),
            actor,
            ref=f"task:{task_id}",
        )
    return await get_task(task_id, actor, audited=False)
