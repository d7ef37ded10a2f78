"""Ordered schema migrations, recorded in `yaoshi_migration`, safe to run repeatedly.

Migration 0001 creates the tables from their current Piccolo definitions, so every later
migration must be idempotent (add a column only when it is missing).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from app.db import fetch, is_sqlite, transaction
from app.tables import (
    ALL_TABLES,
    CareCursor,
    CareTask,
    Cart,
    CartChange,
    ChainSetting,
    CounterDevice,
    Journey,
    JourneyEnrolment,
    JourneyStepRun,
    Message,
    OutboxHandled,
    PinLockout,
    ReturnedPack,
    ReturnTender,
    SaleApproval,
    SaleReturn,
    Store,
)

Migration = Callable[[], Awaitable[None]]


async def _m0001_initial() -> None:
    for table in ALL_TABLES:
        await table.create_table(if_not_exists=True)
    # Composite indexes Piccolo cannot declare on a column.
    await fetch("CREATE INDEX IF NOT EXISTS audit_event_store_at ON audit_event (store, at)")
    await fetch("CREATE INDEX IF NOT EXISTS audit_event_member_at ON audit_event (member, at)")
    await fetch("CREATE INDEX IF NOT EXISTS allergy_member_status ON allergy (member, clinical_status)")
    await fetch("CREATE INDEX IF NOT EXISTS vital_member_kind_at ON vital (member, kind, measured_at)")
    await fetch("CREATE INDEX IF NOT EXISTS consent_member_purpose_at ON consent_event (member, purpose, at)")
    await fetch("CREATE INDEX IF NOT EXISTS member_event_member_at ON member_event (member, at)")
    await fetch("CREATE INDEX IF NOT EXISTS member_name_birth ON member (name, birth_date)")
    await fetch("CREATE UNIQUE INDEX IF NOT EXISTS member_preference_unique ON member_preference (member, kind, value)")
    await fetch("INSERT INTO number_sequence (name, value) VALUES ('member', 0) ON CONFLICT (name) DO NOTHING")


async def _m0002_sales() -> None:
    """Catalog, stock, sales and loyalty (issue 4)."""
    for table in ALL_TABLES:
        await table.create_table(if_not_exists=True)
    for statement in (
        "CREATE UNIQUE INDEX IF NOT EXISTS stock_batch_unique ON stock_batch (store, product, batch_no)",
        "CREATE INDEX IF NOT EXISTS stock_batch_fefo ON stock_batch (store, product, expiry)",
        "CREATE INDEX IF NOT EXISTS stock_move_batch ON stock_move (batch)",
        "CREATE INDEX IF NOT EXISTS stock_move_store_product_at ON stock_move (store, product, at)",
        "CREATE INDEX IF NOT EXISTS sale_store_at ON sale (store, created_at)",
        "CREATE INDEX IF NOT EXISTS sale_member_at ON sale (member, created_at)",
        "CREATE INDEX IF NOT EXISTS sale_line_product ON sale_line (product)",
        "CREATE INDEX IF NOT EXISTS medication_member_until ON medication (member, supply_until)",
        "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE dispatched_at IS NULL",
        "CREATE INDEX IF NOT EXISTS points_entry_member_at ON points_entry (member, at)",
        "CREATE INDEX IF NOT EXISTS points_entry_expiry ON points_entry (expires_on) WHERE expires_on IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS coupon_member_status ON coupon (member, status)",
        "CREATE INDEX IF NOT EXISTS cart_staff_status ON cart (staff, status)",
        "CREATE INDEX IF NOT EXISTS stock_move_ref ON stock_move (ref)",
        # One unit, one sale: a traceability code is sold again only after it came back.
        "CREATE UNIQUE INDEX IF NOT EXISTS sale_trace_code_unsold ON sale_trace_code (code) WHERE returned = 0",
        "INSERT INTO number_sequence (name, value) VALUES ('sale', 0) ON CONFLICT (name) DO NOTHING",
        "INSERT INTO number_sequence (name, value) VALUES ('return', 0) ON CONFLICT (name) DO NOTHING",
    ):
        await fetch(statement)


async def _m0003_drop_duplicate_index() -> None:
    """member_event (member) is the prefix of member_event_member_at: one B-tree less to write per timeline row."""
    await fetch("DROP INDEX IF EXISTS member_event_member")


# The number_sequence row whose value changes (to a new random number) with every write to the catalog.
CATALOG_TOKEN = "catalog_token"
_CATALOG_TABLES = ("product", "product_code")


async def _m0004_catalog_token() -> None:
    """Every write to product or product_code, whoever makes it (the app, an import, a console), gives the
    catalog a new random token in the same transaction: a process may keep the product views it has read for as
    long as the token it read them under is still the token (`catalog.cache`). Random, not a counter, so a
    token never comes back after the row is deleted and written again."""
    if is_sqlite():
        bump = (
            f"INSERT INTO number_sequence (name, value) VALUES ('{CATALOG_TOKEN}', random())"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
        )
        for table in _CATALOG_TABLES:
            for event in ("INSERT", "UPDATE", "DELETE"):
                await fetch(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_{event.lower()}_token AFTER {event} ON {table}"
                    f" BEGIN {bump}; END"
                )
    else:
        await fetch(
            "CREATE OR REPLACE FUNCTION yaoshi_catalog_token() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" INSERT INTO number_sequence (name, value) VALUES ('{CATALOG_TOKEN}',"
            " floor(random() * 9e18)::bigint)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value; RETURN NULL; END $$"
        )
        for table in _CATALOG_TABLES:
            await fetch(f"DROP TRIGGER IF EXISTS {table}_token ON {table}")
            await fetch(
                f"CREATE TRIGGER {table}_token AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}"
                " FOR EACH STATEMENT EXECUTE FUNCTION yaoshi_catalog_token()"
            )
    await fetch(
        "INSERT INTO number_sequence (name, value) VALUES ({}, {}) ON CONFLICT (name) DO NOTHING",
        CATALOG_TOKEN,
        secrets.randbits(62),
    )


async def _m0006_approvals() -> None:
    """Approval PIN lock-outs and the approvals a sale went ahead with (issue 11: items 5 to 7)."""
    for table in (PinLockout, SaleApproval):
        await table.create_table(if_not_exists=True)  # pin_lockout.staff is UNIQUE: one row per approver


async def _columns_of(table: str) -> set[str]:
    """The columns a table has in the database now."""
    if is_sqlite():
        return {row["name"] for row in await fetch(f"PRAGMA table_info({table})")}
    rows = await fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = {}",
        table,
    )
    return {row["column_name"] for row in rows}


async def _add_missing_columns(table: type) -> None:
    """ALTER TABLE … ADD COLUMN for each column of the Piccolo table the database lacks (none UNIQUE)."""
    name = table._meta.tablename
    present = await _columns_of(name)
    for column in table._meta.columns:
        if column._meta.db_column_name not in present:
            ddl = column.ddl.replace("{", "{{").replace("}", "}}")  # a JSON default is no placeholder
            await fetch(f"ALTER TABLE {name} ADD COLUMN {ddl}")


async def _m0007_counter_devices() -> None:
    """Counter tablets, parked carts with their tender, and the keys of applied cart changes (issues 11 and 12)."""
    await CounterDevice.create_table(if_not_exists=True)
    await _add_missing_columns(Cart)
    await CartChange.create_table(if_not_exists=True)
    for statement in (
        # One open cart per person per tablet (carts of before the tablets, with no device, are parked below).
        "CREATE UNIQUE INDEX IF NOT EXISTS cart_open_unique ON cart (staff, store, device) WHERE status = 'open'",
        "CREATE INDEX IF NOT EXISTS cart_store_status ON cart (store, status, parked_at)",
        "CREATE UNIQUE INDEX IF NOT EXISTS cart_change_cart_key ON cart_change (cart, key)",
        "CREATE INDEX IF NOT EXISTS counter_device_store ON counter_device (store, revoked_at)",
    ):
        await fetch(statement)
    # An open cart of before the tablets belongs to no tablet: held, so its lines are not lost and shown to nobody
    # who did not ask for them. It expires like any held sale (at the next day's start, UTC at the latest).
    await fetch(
        "UPDATE cart SET status = 'parked', parked_at = updated_at, expires_at = {}"
        " WHERE status = 'open' AND device IS NULL AND CAST(lines AS TEXT) <> '[]'",
        datetime.now(UTC) + timedelta(days=1),
    )
    await fetch("UPDATE cart SET status = 'abandoned' WHERE status = 'open' AND device IS NULL")


async def _m0008_returns_and_printouts() -> None:
    """Returns (issue 11, item 8): refund tenders, the store manager who allowed a restricted return, returned
    packs in quarantine, the chain's settings; printouts (item 9): the store's phone. Columns are added only when
    missing, with the DDL of their Piccolo definition."""
    for table in (ReturnTender, ReturnedPack, ChainSetting):
        await table.create_table(if_not_exists=True)
    for table, column in ((Store, "phone"), (SaleReturn, "approved_by"), (SaleReturn, "tender_reason")):
        name = table._meta.tablename
        if column not in await _columns_of(name):
            await fetch(f"ALTER TABLE {name} ADD COLUMN {table._meta.get_column_by_name(column).ddl}")
    # The manager's list of packs still held, per store, oldest first.
    await fetch("CREATE INDEX IF NOT EXISTS returned_pack_store_status ON returned_pack (store, status, created_at)")


async def _add_column(table: str, column: str, ddl: str) -> None:
    """Add `column` to `table` unless it is there (0001 creates tables from their current definitions)."""
    if is_sqlite():
        present = {r["name"] for r in await fetch(f"PRAGMA table_info({table})")}
        if column not in present:
            await fetch(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}")
    else:
        await fetch(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {ddl}")


async def _m0009_events() -> None:
    """Domain events (issue 14): each handler handles an event once; failed runs are counted."""
    await OutboxHandled.create_table(if_not_exists=True)
    await _add_column("outbox", "attempts", "INTEGER NOT NULL DEFAULT 0")
    await _add_column("outbox", "last_error", "TEXT NOT NULL DEFAULT ''")
    await fetch("CREATE UNIQUE INDEX IF NOT EXISTS outbox_handled_once ON outbox_handled (event, handler)")


async def _m0010_messages() -> None:
    """The message outbox (issue 14): SMS to members and robot notices to stores, sent by the sender job."""
    await Message.create_table(if_not_exists=True)
    for statement in (
        # The sender's due scan: queued/deferred rows by not_before (and `sending` rows by claim time).
        "CREATE INDEX IF NOT EXISTS message_due ON message (status, not_before)",
        "CREATE INDEX IF NOT EXISTS message_claimed ON message (status, claimed_at)",
        # The weekly cap: a member's messages sent in the last 7 days.
        "CREATE INDEX IF NOT EXISTS message_member_sent ON message (member, sent_at)",
        # The manager's list, per store, newest first.
        "CREATE INDEX IF NOT EXISTS message_store_created ON message (store, created_at)",
    ):
        await fetch(statement)


async def _m0011_care_tasks() -> None:
    """The pharmacist's task queue (issue 14)."""
    await CareTask.create_table(if_not_exists=True)
    for statement in (
        "CREATE INDEX IF NOT EXISTS care_task_store_queue ON care_task (store, status, due_at)",
        "CREATE INDEX IF NOT EXISTS care_task_assignee_queue ON care_task (assignee, status, due_at)",
        "CREATE INDEX IF NOT EXISTS care_task_member_kind ON care_task (member, kind, status)",
    ):
        await fetch(statement)


async def _m0013_care() -> None:
    """Care journeys (issue 14): definitions, enrolments, step runs, sweep cursors."""
    for table in (Journey, JourneyEnrolment, JourneyStepRun, CareCursor):
        await table.create_table(if_not_exists=True)
    for statement in (
        "CREATE UNIQUE INDEX IF NOT EXISTS journey_code_version ON journey (code, version)",
        # The step runner's scan: active enrolments by due day, small because finished ones leave it.
        "CREATE INDEX IF NOT EXISTS journey_enrolment_due ON journey_enrolment (next_due_on) WHERE status = 'active'",
        "CREATE INDEX IF NOT EXISTS journey_enrolment_member ON journey_enrolment (member, status)",
        "CREATE INDEX IF NOT EXISTS journey_enrolment_journey ON journey_enrolment (journey, status)",
        "CREATE INDEX IF NOT EXISTS journey_step_run_enrolment ON journey_step_run (enrolment)",
    ):
        await fetch(statement)


async def _m0014_therapy_index() -> None:
    """A covering index for the refill-due trigger and adherence (issue 14): a member range's chronic fills read
    from the index alone (at 10M fills the refill sweep went from 30 s of scattered heap reads to 8 s)."""
    if is_sqlite():
        statement = (
            "CREATE INDEX IF NOT EXISTS medication_member_therapy ON medication (member, atc, started_on,"
            " supply_until, store) WHERE supply_until IS NOT NULL"
        )
    else:
        statement = (
            "CREATE INDEX IF NOT EXISTS medication_member_therapy ON medication (member, atc, started_on)"
            " INCLUDE (supply_until, store, id) WHERE supply_until IS NOT NULL"
        )
    await fetch(statement)


MIGRATIONS: list[tuple[str, Migration]] = [
    ("0001_initial", _m0001_initial),
    ("0002_sales", _m0002_sales),
    ("0003_drop_duplicate_index", _m0003_drop_duplicate_index),
    ("0004_catalog_token", _m0004_catalog_token),
    ("0006_approvals", _m0006_approvals),
    ("0007_counter_devices", _m0007_counter_devices),
    ("0008_returns_and_printouts", _m0008_returns_and_printouts),
    ("0009_events", _m0009_events),
    ("0010_messages", _m0010_messages),
    ("0011_care_tasks", _m0011_care_tasks),
    ("0013_care", _m0013_care),
    ("0014_therapy_index", _m0014_therapy_index),
]


async def migrate() -> list[str]:
    """Apply pending migrations; return the names applied."""
    if is_sqlite():
        # WAL is a property of the file: set once, readers then never block the writer.
        await fetch("PRAGMA journal_mode=WAL")
    await fetch(
        "CREATE TABLE IF NOT EXISTS yaoshi_migration (name VARCHAR(100) PRIMARY KEY, applied_at TIMESTAMP"
        " DEFAULT CURRENT_TIMESTAMP)"
    )
    async with transaction():
        if not is_sqlite():
            # Several processes may start at once; one migrates, the others wait and find nothing to do.
            await fetch("SELECT pg_advisory_xact_lock(727274)")
        done = {row["name"] for row in await fetch("SELECT name FROM yaoshi_migration")}
        applied = []
        for name, step in MIGRATIONS:
            if name in done:
                continue
            await step()
            await fetch("INSERT INTO yaoshi_migration (name) VALUES ({})", name)
            applied.append(name)
        return applied


async def reset_all() -> None:
    """Drop every table (tests and scratch databases only)."""
    for table in reversed(ALL_TABLES):
        await fetch(f"DROP TABLE IF EXISTS {table._meta.tablename}" + ("" if is_sqlite() else " CASCADE"))
    await fetch("DROP TABLE IF EXISTS yaoshi_migration")
