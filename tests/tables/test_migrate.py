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


async def _token() -> int | None:
    rows = await fetch("SELECT value FROM number_sequence WHERE name = 'catalog_token'")
    return rows[0]["value"] if rows else None


async def test_a_database_from_before_0004_gets_a_catalog_token_that_every_catalog_write_changes() -> None:
    if is_sqlite():
        names = await fetch("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        for row in names:
            await fetch(f"DROP TRIGGER {row['name']}")
    else:
        for table in ("product", "product_code"):
            await fetch(f"DROP TRIGGER IF EXISTS {table}_token ON {table}")
    await fetch("DELETE FROM number_sequence WHERE name = 'catalog_token'")
    await fetch("DELETE FROM yaoshi_migration WHERE name = {}", "0004_catalog_token")

    assert await migrate() == ["0004_catalog_token"]
    token = await _token()
    assert token is not None
    await fetch("INSERT INTO product (sku, name_zh, price) VALUES ('T-1', '测试', 100)")
    assert await _token() not in (None, token)
    token = await _token()
    product_id = (await fetch("SELECT id FROM product WHERE sku = 'T-1'"))[0]["id"]
    await fetch("INSERT INTO product_code (code, product, kind) VALUES ('T-1-A', {}, 'alias')", product_id)
    assert await _token() != token
    token = await _token()
    await fetch("DELETE FROM product_code WHERE product = {}", product_id)
    assert await _token() != token
    assert await migrate() == []


async def _tables() -> set[str]:
    if is_sqlite():
        rows = await fetch("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = await fetch("SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()")
    return {r["name"] for r in rows}


async def test_a_database_from_before_0006_gets_the_pin_lockout_and_sale_approval_tables() -> None:
    await fetch("DROP TABLE sale_approval")
    await fetch("DROP TABLE pin_lockout")
    await fetch("DELETE FROM yaoshi_migration WHERE name = {}", "0006_approvals")
    assert not {"sale_approval", "pin_lockout"} & await _tables()

    assert await migrate() == ["0006_approvals"]
    assert {"sale_approval", "pin_lockout"} <= await _tables()
    staff = (await fetch("SELECT id FROM staff ORDER BY id LIMIT 1"))[0]["id"]
    await fetch("INSERT INTO pin_lockout (staff, failures, updated_at) VALUES ({}, 1, CURRENT_TIMESTAMP)", staff)
    again = "INSERT INTO pin_lockout (staff, failures, updated_at) VALUES ({}, 2, CURRENT_TIMESTAMP)"
    await fetch(again + " ON CONFLICT (staff) DO NOTHING", staff)  # one row per approver: the column is unique
    assert (await fetch("SELECT failures FROM pin_lockout WHERE staff = {}", staff))[0]["failures"] == 1
    assert await migrate() == []


async def _columns(table: str) -> set[str]:
    if is_sqlite():
        return {r["name"] for r in await fetch(f"PRAGMA table_info({table})")}
    rows = await fetch("SELECT column_name AS name FROM information_schema.columns WHERE table_name = {}", table)
    return {r["name"] for r in rows}


async def test_a_database_from_before_0008_gets_the_returns_tables_and_the_store_phone() -> None:
    for table in ("sale_return_tender", "returned_pack", "chain_setting"):
        await fetch(f"DROP TABLE IF EXISTS {table}")
    await fetch("ALTER TABLE store DROP COLUMN phone")
    await fetch("ALTER TABLE sale_return DROP COLUMN tender_reason")
    if not is_sqlite():  # SQLite cannot drop a column that is a foreign key
        await fetch("ALTER TABLE sale_return DROP COLUMN approved_by")
    await fetch("DELETE FROM yaoshi_migration WHERE name = {}", "0008_returns_and_printouts")

    assert await migrate() == ["0008_returns_and_printouts"]
    assert "phone" in await _columns("store")
    assert {"approved_by", "tender_reason"} <= await _columns("sale_return")
    assert {"kind", "original_kind", "amount"} <= await _columns("sale_return_tender")
    assert "returned_pack_store_status" in await _indexes("returned_pack")
    assert await fetch("SELECT phone FROM store WHERE code = 'SH001'") == [{"phone": ""}]
    assert await migrate() == []
