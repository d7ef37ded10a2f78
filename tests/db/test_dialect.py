"""Dialect helpers: `bulk_sql` for executemany and the date expressions the seed builds history with, both engines."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.db import bulk_sql, days_after, epoch_timestamp, execute_many, fetch, is_sqlite, local_date


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


async def test_an_epoch_becomes_a_utc_timestamp_and_its_date_in_a_zone() -> None:
    # 2024-03-01 17:30:00 UTC is already 2 March in Shanghai (UTC+8), still 1 March in UTC.
    moment = epoch_timestamp("{}")
    rows = await fetch(
        "SELECT " + moment + " AS at, " + local_date(moment, "Asia/Shanghai") + " AS shanghai,"
        " " + local_date(moment, "UTC") + " AS utc",
        1709314200,
        *([1709314200] * 2),
    )
    assert str(rows[0]["at"])[:19] in ("2024-03-01 17:30:00", "2024-03-01T17:30:00")
    assert (str(rows[0]["shanghai"])[:10], str(rows[0]["utc"])[:10]) == ("2024-03-02", "2024-03-01")


async def test_days_after_a_date() -> None:
    day = local_date(epoch_timestamp("{}"), "UTC")
    rows = await fetch("SELECT " + days_after(day, "{} * 2 - 1") + " AS d", 1709314200, 14)
    assert str(rows[0]["d"])[:10] == "2024-03-28"


def test_a_zone_that_is_no_zone_is_refused() -> None:
    with pytest.raises((ValueError, KeyError)):  # a malformed key, or ZoneInfoNotFoundError
        local_date("x", "Asia/Shanghai'; DROP TABLE member; --")
