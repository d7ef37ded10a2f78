"""Storage: the helpers components call (`fetch`, `transaction` …), the dialect helpers, the pooled SQLite engine.

Components import from here, never from the modules: `sql` (engine, transactions, raw SQL), `dialect` (what differs
between SQLite and PostgreSQL: row locks, advisory locks, string aggregation, typed parameters, characters by
code, serials, executemany placeholders, dates from epochs and zones, folding the log), `sqlite_pool`, and
`values` (stored dates and times read back alike on both engines).
"""

from app.db.dialect import (
    advisory_lock,
    bulk_sql,
    char,
    day_number,
    days_after,
    epoch_timestamp,
    fold_log,
    for_update,
    from_day_number,
    local_date,
    lock_row,
    month_day,
    next_serial,
    rollback_frees_ids,
    single_writer,
    string_agg,
    typed_param,
)
from app.db.sql import engine, execute_many, fetch, in_transaction, is_sqlite, marks, placeholders, transaction
from app.db.sqlite_pool import PooledSQLiteEngine, TransactionLost
from app.db.values import as_date, as_datetime

__all__ = [
    "PooledSQLiteEngine",
    "TransactionLost",
    "advisory_lock",
    "as_date",
    "as_datetime",
    "bulk_sql",
    "char",
    "day_number",
    "days_after",
    "engine",
    "epoch_timestamp",
    "execute_many",
    "fetch",
    "fold_log",
    "for_update",
    "from_day_number",
    "in_transaction",
    "is_sqlite",
    "local_date",
    "lock_row",
    "marks",
    "month_day",
    "next_serial",
    "placeholders",
    "rollback_frees_ids",
    "single_writer",
    "string_agg",
    "transaction",
    "typed_param",
]
