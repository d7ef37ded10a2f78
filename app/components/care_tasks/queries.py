"""SQL of the task queue."""

from __future__ import annotations

import json
from datetime import datetime

from app.db import fetch


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
    rows = await fetch(
        "SELECT 1 AS x FROM care_task WHERE member = {} AND kind = {} AND status = 'open' LIMIT 1", member_id, kind
    )
    return bool(rows)
