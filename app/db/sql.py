"""Engine-neutral helpers every component calls: the engine, transactions, raw SQL with `{}` placeholders."""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Sequence, Sized
from typing import Any

from piccolo.columns import Column
from piccolo.engine.base import Engine
from piccolo.engine.finder import engine_finder
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.querystring import QueryString

from app.db.sqlite_pool import PooledSQLiteEngine

# Found once: `engine_finder()` imports the configuration and builds a Finder on every call, a measurable share of a
# sale. Every table's `_meta.db` is this same object.
_ENGINE: Engine | None = None


def engine() -> Engine:
    """The configured Piccolo engine: the one the tables (and `fetch`) use, found once by Piccolo itself."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = engine_finder()
        assert _ENGINE is not None, "no Piccolo engine configured"
    return _ENGINE


def is_sqlite() -> bool:
    """True on the embedded SQLite default."""
    return isinstance(engine(), SQLiteEngine)


def in_transaction() -> bool:
    """True inside `transaction()` (what is read there may include its own writes, which may yet roll back)."""
    return engine().current_transaction.get() is not None


def transaction(short: bool = False) -> Any:
    """A write transaction; on SQLite it takes the write lock at BEGIN so read-then-write cannot deadlock.

    `short=True` says it is a few quick indexed statements (a sale, a cart change): on the embedded SQLite it then
    runs on the event loop's thread, without a thread hop per statement (see PooledSQLiteTransaction), still its
    own BEGIN IMMEDIATE … COMMIT. Nested calls join the outer transaction whatever they say (no savepoint: an
    inner failure caught by the outer block does not undo the inner writes).
    """
    db = engine()
    if isinstance(db, PooledSQLiteEngine):
        return db.transaction(transaction_type=TransactionType.immediate, short=short)
    if isinstance(db, SQLiteEngine):
        return db.transaction(transaction_type=TransactionType.immediate)
    return db.transaction()


_COMPILED: dict[tuple[str, str, int], str] = {}
_PLAIN = frozenset({int, str, float, bool, bytes, type(None), datetime.datetime, datetime.date, decimal.Decimal})


def _compiled(sql: str, engine_type: str, count: int) -> str:
    """`sql` with its `{}` placeholders as the driver's (`?` or `$n`), compiled once by Piccolo itself."""
    key = (sql, engine_type, count)
    found = _COMPILED.get(key)
    if found is None:
        found = QueryString(sql, *range(count)).compile_string(engine_type=engine_type)[0]
        if len(_COMPILED) < 2048:  # SQL built with f-strings must not grow it without bound
            _COMPILED[key] = found
    return found


async def fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
    """Run raw SQL with Piccolo `{}` placeholders and return rows as dicts (inside the current transaction, if any).

    Same as `Table.raw(sql, *args)`, minus the query-object machinery and with the placeholder compilation cached:
    on the counter lookup that was a tenth of the request's CPU.
    """
    db = _ENGINE or engine()
    # Plain values skip the isinstance checks (Column's is an ABC check: slow, and a sale passes ~200 arguments).
    if not _PLAIN.issuperset(map(type, args)) and any(isinstance(arg, (QueryString, Column)) for arg in args):
        rows = await db.run_querystring(QueryString(sql, *args))
        return db.transform_response_to_dicts(rows) if rows else []
    if type(db) is PooledSQLiteEngine:
        # What Piccolo's run_querystring would do for a generic query, without building a QueryString for it.
        compiled = _compiled(sql, "sqlite", len(args))
        current = db.current_transaction.get()
        if current is not None:
            return await db._execute(current.connection, compiled, list(args))
        return await db._run_in_new_connection(compiled, list(args))
    querystring = QueryString(sql)
    querystring._frozen_compiled_strings = (_compiled(sql, db.engine_type, len(args)), list(args))
    rows = await db.run_querystring(querystring)
    return db.transform_response_to_dicts(rows) if rows else []


async def execute_many(sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Bulk insert/update with the driver's executemany, all rows in one transaction (the current one if any).

    `sql` uses `?` placeholders on SQLite, `$n` on PostgreSQL.
    """
    db = engine()
    current = db.current_transaction.get() if hasattr(db, "current_transaction") else None
    if current is not None:
        await current.connection.executemany(sql, rows)
        return
    if isinstance(db, SQLiteEngine):
        # Without an explicit transaction every row would be its own commit (and fsync).
        async with db.transaction(transaction_type=TransactionType.immediate) as tx:
            await tx.connection.executemany(sql, rows)
        return
    # asyncpg's executemany is atomic by itself.
    pool = getattr(db, "pool", None)
    if pool is not None:
        async with pool.acquire() as conn:
            await conn.executemany(sql, rows)
        return
    conn = await db.get_new_connection()
    try:
        await conn.executemany(sql, rows)
    finally:
        await conn.close()


def marks(values: Sized | int) -> str:
    """`{}, {}, {}` for `fetch`: one per value (or `values` of them), e.g. for `IN (…)`."""
    count = values if isinstance(values, int) else len(values)
    return ", ".join(["{}"] * count)


def placeholders(count: int, start: int = 1) -> str:
    """`?, ?, ?` on SQLite, `$1, $2, $3` on PostgreSQL, for `execute_many`."""
    if is_sqlite():
        return ", ".join("?" for _ in range(count))
    return ", ".join(f"${i}" for i in range(start, start + count))
