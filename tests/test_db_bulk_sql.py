"""`bulk_sql`: constant SQL with `{}` placeholders runs through the driver's executemany on both engines."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.db import bulk_sql, execute_many, fetch, is_sqlite


@pytest.fixture
async def probe() -> AsyncIterator[None]:
    await fetch("CREATE TABLE IF NOT EXISTS db_bulk_probe (id INTEGER NOT NULL, name VARCHAR(40), value INTEGER)")
    await fetch("DELETE FROM db_bulk_probe")
    yield
    await fetch("DROP TABLE IF EXISTS db_bulk_probe")


def test_placeholders_are_the_drivers_in_order() -> None:
    sql = bulk_sql("UPDATE t SET a = {}, b = COALESCE({}, b) WHERE id = {}")
    if is_sqlite():
        assert sql == "UPDATE t SET a = ?, b = COALESCE(?, b) WHERE id = ?"
    else:
        assert sql == "UPDATE t SET a = $1, b = COALESCE($2, b) WHERE id = $3"


async def test_an_update_with_several_placeholders_changes_each_row_as_told(probe: None) -> None:
    await execute_many(
        bulk_sql("INSERT INTO db_bulk_probe (id, name, value) VALUES ({}, {}, {})"), [(1, "a", 1), (2, "b", 2)]
    )
    await execute_many(
        bulk_sql("UPDATE db_bulk_probe SET name = COALESCE({}, name), value = {} WHERE id = {}"),
        [(None, 10, 1), ("z", 20, 2)],
    )
    rows = await fetch("SELECT id, name, value FROM db_bulk_probe ORDER BY id")
    assert [(r["id"], r["name"], r["value"]) for r in rows] == [(1, "a", 10), (2, "z", 20)]
