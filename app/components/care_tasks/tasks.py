"""Creating tasks: once per key, in the caller's transaction; an urgent one notifies the store's robot."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from app.components import messages
from app.components.care_tasks import queries


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


async def create_task(task: NewTask, now: datetime) -> int | None:
    """Create the task unless its key exists (the caller's transaction); the new id, or None."""
    new_id = await queries.insert(asdict(task), now)
    if new_id is not None and task.priority == "urgent" and task.store_id is not None:
        await messages.queue_staff_notice(
            f"task:{task.key}", task.store_id, "urgent_task", {"title": task.title, **_flat(task.params)}, now
        )
    return new_id


def _flat(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if isinstance(v, (str, int, dict))}


async def open_task_exists(member_id: int, kind: str) -> bool:
    """Whether the member has an open task of `kind`."""
    return await queries.open_exists(member_id, kind)
