"""app/tables/migrate.py: later migrations bring an existing database to the current schema, once."""

from __future__ import annotations

from app.db import fetch, is_sqlite
from app.tables.migrate import migrate


async def _indexes(table: str) -> set[str]:
    if is_sqlite():
        rows = await fetch("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = {}", table)
    else:
        rows = await fetch("SELECT indexname AS name FROM pg_indexes WHERE tablename = {}", table)
    return {r["name"] for r in rows}


async def test_a_database_from_before_0003_loses_the_duplicate_timeline_index() -> None:
    await fetch("CREATE INDEX IF NOT EXISTS member_event_member ON member_event (member)")
    await fetch("DELETE FROM yaoshi_migration WHERE name = {}", "0003_drop_duplicate_index")
    assert "member_event_member" in await _indexes("member_event")

    assert await migrate() == ["0003_drop_duplicate_index"]
    found = await _indexes("member_event")
    assert "member_event_member" not in found
    assert "member_event_member_at" in found  # the timeline's own index stays
    assert await migrate() == []
