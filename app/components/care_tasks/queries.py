"""SQL of the task queue: create once per key, the queue of a store or a person, one task, its changes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from app.db import fetch, for_update

_COLUMNS = (
    "t.id, t.key, t.member, t.store, t.kind, t.priority, t.role, t.assignee, t.status, t.due_at, t.snoozed_until,"
    " t.title, t.params, t.source, t.outcome, t.answers, t.note, t.attempts, t.completed_by, t.completed_at,"
    " t.created_at, m.member_no, m.name AS member_name, m.phone_masked, s.display_name AS assignee_name,"
    " c.display_name AS completed_by_name"
)
_FROM = (
    " FROM care_task t JOIN member m ON m.id = t.member LEFT JOIN staff s ON s.id = t.assignee"
    " LEFT JOIN staff c ON c.id = t.completed_by"
)


def _row(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("params", "source", "answers"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key] or "{}")
    return row


async def insert(values: dict, now: datetime) -> int | None:
    """The task, in the caller's transaction; None when a task with its key exists."""
    rows = await fetch(
        "INSERT INTO care_task (key, member, store, kind, priority, role, assignee, status, due_at, title, params,"
        " source, outcome, answers, note, attempts, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, 'open', {}, {},"
        " {}, {}, '', {}, '', 0, {}) ON CONFLICT (key) DO NOTHING RETURNING id",
        values["key"],
        values["member_id"],
        values["store_id"],
        values["kind"],
        values["priority"],
        values["role"],
        values["assignee_id"],
        values["due_at"],
        values["title"],
        json.dumps(values["params"], ensure_ascii=False),
        json.dumps(values["source"], ensure_ascii=False),
        "{}",
        now,
    )
    return rows[0]["id"] if rows else None


async def open_exists(member_id: int, kind: str) -> bool:
    """Whether the member has an open task of `kind`."""
    rows = await fetch(
        "SELECT 1 AS x FROM care_task WHERE member = {} AND kind = {} AND status = 'open' LIMIT 1", member_id, kind
    )
    return bool(rows)


async def queue(store_id: int | None, assignee_id: int | None, role: str | None, until: datetime, limit: int) -> list:
    """Open tasks due by `until` (snoozed ones once their time has come), by due time: a store's, or a person's
    (assigned to them, or unassigned for their role at their store)."""
    where = ["t.status = 'open'", "t.due_at <= {}", "(t.snoozed_until IS NULL OR t.snoozed_until <= {})"]
    args: list[Any] = [until, until]
    if store_id is not None:
        where.append("t.store = {}")
        args.append(store_id)
    if assignee_id is not None:
        where.append("(t.assignee = {} OR (t.assignee IS NULL AND t.role = {}))")
        args += [assignee_id, role or ""]
    rows = await fetch(
        f"SELECT {_COLUMNS}{_FROM} WHERE {' AND '.join(where)}"
        " ORDER BY CASE WHEN t.priority = 'urgent' THEN 0 ELSE 1 END, t.due_at, t.id LIMIT {}",
        *args,
        limit,
    )
    return [_row(r) for r in rows]


async def task(task_id: int, lock: bool = False) -> dict[str, Any] | None:
    """One task with its member's number and name."""
    rows = await fetch(f"SELECT {_COLUMNS}{_FROM} WHERE t.id = {{}}{for_update('t') if lock else ''}", task_id)
    return _row(rows[0]) if rows else None


async def for_member(member_id: int, status: str, limit: int) -> list[dict[str, Any]]:
    """A member's tasks of `status` ('open' or 'closed' = done or cancelled), newest due first."""
    cond = "t.status = 'open'" if status == "open" else "t.status <> 'open'"
    rows = await fetch(
        f"SELECT {_COLUMNS}{_FROM} WHERE t.member = {{}} AND {cond} ORDER BY t.due_at DESC LIMIT {{}}",
        member_id,
        limit,
    )
    return [_row(r) for r in rows]


async def counts(store_id: int | None, now: datetime) -> list[dict[str, Any]]:
    """Open and overdue tasks per assignee (None: not yet taken), of one store or all."""
    where = "t.status = 'open'" + (" AND t.store = {}" if store_id is not None else "")
    args: list[Any] = [now] + ([store_id] if store_id is not None else [])
    return await fetch(
        "SELECT t.assignee, s.display_name AS assignee_name, t.role, COUNT(*) AS open_n,"
        " SUM(CASE WHEN t.due_at < {} THEN 1 ELSE 0 END) AS overdue_n"
        f" FROM care_task t LEFT JOIN staff s ON s.id = t.assignee WHERE {where}"
        " GROUP BY t.assignee, s.display_name, t.role ORDER BY overdue_n DESC, open_n DESC",
        *args,
    )


async def close(task_id: int, outcome: str, answers: dict, note: str, staff_id: int, now: datetime) -> None:
    await fetch(
        "UPDATE care_task SET status = 'done', outcome = {}, answers = {}, note = {}, attempts = attempts + 1,"
        " completed_by = {}, completed_at = {} WHERE id = {}",
        outcome,
        json.dumps(answers, ensure_ascii=False),
        note,
        staff_id,
        now,
        task_id,
    )


async def retry(task_id: int, due_at: datetime, answers: dict, note: str) -> None:
    await fetch(
        "UPDATE care_task SET due_at = {}, snoozed_until = NULL, outcome = 'not_reached', answers = {}, note = {},"
        " attempts = attempts + 1 WHERE id = {}",
        due_at,
        json.dumps(answers, ensure_ascii=False),
        note,
        task_id,
    )


async def assign(task_id: int, staff_id: int | None) -> None:
    await fetch("UPDATE care_task SET assignee = {} WHERE id = {}", staff_id, task_id)


async def snooze(task_id: int, until: datetime) -> None:
    await fetch("UPDATE care_task SET snoozed_until = {} WHERE id = {}", until, task_id)


async def store_staff(store_id: int) -> list[dict[str, Any]]:
    """Staff of a store who can take a task (everyone but the clerks), by name."""
    return await fetch(
        "SELECT id, display_name, role FROM staff WHERE store = {} AND active AND role <> 'clerk'"
        " ORDER BY display_name",
        store_id,
    )
