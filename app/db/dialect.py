"""What differs between SQLite and PostgreSQL, behind small helpers, so domain SQL never asks which engine it runs on.

Row locks: on SQLite every write transaction already holds the database's write lock from its BEGIN IMMEDIATE, so
a read inside it cannot be overtaken; PostgreSQL needs `FOR UPDATE` (or an advisory lock) for the same guarantee.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from app.db.sql import fetch, is_sqlite


def for_update(of: str = "") -> str:
    """The row-lock suffix of a SELECT inside a write transaction: `FOR UPDATE [OF alias]`, nothing on SQLite."""
    if is_sqlite():
        return ""
    return f" FOR UPDATE OF {of}" if of else " FOR UPDATE"


async def lock_row(table: str, row_id: int) -> None:
    """Lock one row by id until the transaction ends, so read-then-write on it is serialised."""
    if not is_sqlite():
        await fetch(f"SELECT id FROM {table} WHERE id = {{}} FOR UPDATE", row_id)


async def advisory_lock(key: int | str, second: int | None = None) -> None:
    """Serialise transactions on an application key (two ints, or one text hashed) until the transaction ends."""
    if is_sqlite():
        return
    if isinstance(key, str):
        await fetch("SELECT pg_advisory_xact_lock(hashtext({}))", key)
    elif second is None:
        await fetch("SELECT pg_advisory_xact_lock({})", key)
    else:
        await fetch("SELECT pg_advisory_xact_lock({}, {})", key, second)


def string_agg(expression: str, separator: str) -> str:
    """An aggregate that joins `expression` with `separator` (both SQL expressions) in one string."""
    if is_sqlite():
        return f"group_concat({expression}, {separator})"
    return f"string_agg({expression}, {separator})"


def typed_param(sql_type: str) -> str:
    """A `{}` placeholder that PostgreSQL must be told the type of (e.g. in VALUES or a CASE); plain on SQLite."""
    return "{}" if is_sqlite() else f"CAST({{}} AS {sql_type})"


def char(code: int) -> str:
    """The SQL expression for the one-character string of a code point (`char(n)` on SQLite, `chr(n)` elsewhere)."""
    return f"char({int(code)})" if is_sqlite() else f"chr({int(code)})"


def single_writer() -> bool:
    """Whether every write transaction holds the database's one write lock from its start (SQLite): then a single
    statement can never land between another transaction's read and its write, so a compare-and-swap UPDATE needs
    no row lock. False on PostgreSQL, where writers serialise only on the rows they lock."""
    return is_sqlite()


def rollback_frees_ids() -> bool:
    """Whether a rolled-back INSERT gives its id back to the next INSERT (SQLite's rowid is the table's max + 1);
    PostgreSQL's sequences never hand out a number twice. A row whose id must never be reused takes it from
    `next_serial` where this is True."""
    return is_sqlite()


# The numbered tables `next_serial` keeps above: a fixed set of our own, each a complete statement.
_SERIAL_ABOVE_MAX_ID = {
    table: "UPDATE number_sequence SET value = MAX(value, (SELECT COALESCE(MAX(id), 0) FROM "
    + table
    + ")) + 1 WHERE name = {} RETURNING value"
    for table in ("sale", "sale_return")
}


async def next_serial(sequence: str, table: str) -> int:
    """The next number of the named sequence (table number_sequence), in the caller's statement.

    Where a rollback frees ids (`rollback_frees_ids`) the number also serves as the row's id in `table`, so it
    starts above the table's highest id: an id written without it (imported history, a test's row) is never taken
    again."""
    if rollback_frees_ids():
        rows = await fetch(_SERIAL_ABOVE_MAX_ID[table], sequence)
        return rows[0]["value"]
    rows = await fetch("UPDATE number_sequence SET value = value + {} WHERE name = {} RETURNING value", 1, sequence)
    return rows[0]["value"]


def bulk_sql(sql: str) -> str:
    """`sql` with its `{}` placeholders as the driver's (`?` on SQLite, `$1 … $n` on PostgreSQL), for `execute_many`."""
    if is_sqlite():
        return sql.replace("{}", "?")
    parts = sql.split("{}")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))


def epoch_timestamp(seconds: str) -> str:
    """The UTC timestamp `seconds` (an SQL expression) after 1970-01-01, as a timestamp column stores it."""
    if is_sqlite():
        return f"strftime('%Y-%m-%d %H:%M:%S+00:00', {seconds}, 'unixepoch')"
    return f"to_timestamp({seconds})"


def local_date(timestamp: str, zone: str) -> str:
    """The calendar date of `timestamp` (an SQL expression) in the time zone named `zone`.

    SQLite knows no zones: it shifts by the zone's offset now, which is exact for zones without daylight saving
    (the default, Asia/Shanghai).
    """
    tz = ZoneInfo(zone)  # refuses a name that is no zone, so nothing else reaches the SQL
    if is_sqlite():
        offset = datetime.now(tz).utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset else 0
        return f"date({timestamp}, '{minutes:+d} minutes')"
    return f"CAST(({timestamp} AT TIME ZONE '{tz.key}') AS date)"


def days_after(day: str, days: str) -> str:
    """The date `days` (an integer SQL expression) after the date `day` (an SQL expression)."""
    if is_sqlite():
        return f"date({day}, ({days}) || ' days')"  # '5 days' and '-5 days' are both modifiers
    return f"({day} + ({days}))"


def day_number(day: str) -> str:
    """The date `day` (an SQL expression) as whole days since 1970-01-01, for day arithmetic in windows."""
    if is_sqlite():
        return f"CAST(julianday({day}) - 2440587.5 AS INTEGER)"
    return f"({day} - DATE '1970-01-01')"


def from_day_number(number: str) -> str:
    """The date `number` (an integer SQL expression) days after 1970-01-01: the inverse of `day_number`."""
    if is_sqlite():
        return f"date('1970-01-01', ({number}) || ' days')"
    return f"(DATE '1970-01-01' + CAST({number} AS INTEGER))"


def month_day(day: str) -> str:
    """The month and day of the date `day` (an SQL expression) as text 'MM-DD' (birthdays, calendar dates)."""
    if is_sqlite():
        return f"strftime('%m-%d', {day})"
    return f"to_char({day}, 'MM-DD')"


async def fold_log() -> None:
    """After a bulk load: fold SQLite's write-ahead log into the database file now, not during the next writes.

    Nothing on PostgreSQL, whose own checkpoints need no help.
    """
    if is_sqlite():
        await fetch("PRAGMA wal_checkpoint(TRUNCATE)")
