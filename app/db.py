"""Engine-neutral database helpers: transactions, raw SQL, placeholders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.finder import engine_finder
from piccolo.engine.sqlite import SQLiteEngine, TransactionType


def engine() -> Engine:
    """The configured Piccolo engine."""
    db = engine_finder()
    assert db is not None, "no Piccolo engine configured"
    return db


def is_sqlite() -> bool:
    """True on the embedded SQLite default."""
    return isinstance(engine(), SQLiteEngine)


def transaction() -> Any:
    """A write transaction; on SQLite it takes the write lock at BEGIN so read-then-write cannot deadlock."""
    db = engine()
    if isinstance(db, SQLiteEngine):
        return db.transaction(transaction_type=TransactionType.immediate)
    return db.transaction()


async def fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
    """Run raw SQL with Piccolo `{}` placeholders and return rows as dicts."""
    from app.tables.stores import Store  # any table can carry a raw query

    return await Store.raw(sql, *args)


async def execute_many(sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Bulk insert/update with the driver's executemany; `sql` uses `?` placeholders on SQLite, `$n` on PG."""
    db = engine()
    if isinstance(db, SQLiteEngine):
        import aiosqlite

        async with aiosqlite.connect(**db.connection_kwargs) as conn:
            await conn.executemany(sql, rows)
            await conn.commit()
        return
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


def placeholders(count: int, start: int = 1) -> str:
    """`?, ?, ?` on SQLite, `$1, $2, $3` on PostgreSQL, for `execute_many`."""
    if is_sqlite():
        return ", ".join("?" for _ in range(count))
    return ", ".join(f"${i}" for i in range(start, start + count))
