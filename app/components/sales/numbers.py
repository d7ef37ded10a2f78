"""Sale and return numbers (and, where a rollback would free them, row ids): taken so that none is ever used twice."""

from __future__ import annotations

from app.db import in_transaction, next_serial, rollback_frees_ids


async def committed_serial(sequence: str, table: str) -> int:
    """The next number of a sale or return, taken in its own committed statement before the transaction that
    writes the row: a transaction that rolls back leaves a gap, never a number the next one gets again (inside it,
    on SQLite, the sequence's increment would roll back with it). On PostgreSQL its row lock, held by the
    transaction, would also make every sale of the chain wait for the one before it.

    Where a rolled-back INSERT frees its id for the next one (SQLite), the row's id is this number too
    (`row_id`), and the number starts above the table's highest id (`app.db.next_serial`)."""
    if in_transaction():
        raise RuntimeError("a sale or return number is taken outside any transaction, so that it stays taken")
    return await next_serial(sequence, table)


def row_id(serial: int) -> int | None:
    """The id to insert a numbered row with: its serial where a rollback would free the id, else None (the
    table's own sequence, which never gives a number back)."""
    return serial if rollback_frees_ids() else None


def sale_number(store_code: str, serial: int) -> str:
    """A sale's number: S, the store's code, eight digits."""
    return f"S{store_code}{serial:08d}"


def return_number(store_code: str, serial: int) -> str:
    """A return's number (printed on its refund slip): R, the store's code, eight digits."""
    return f"R{store_code}{serial:08d}"
