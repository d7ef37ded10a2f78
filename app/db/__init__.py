"""Storage: the helpers components call (`fetch`, `transaction` …), the dialect helpers, the pooled SQLite engine.

Components import from here, never from the modules: `sql` (engine, transactions, raw SQL), `dialect` (what differs
between SQLite and PostgreSQL: row locks, advisory locks, string aggregation, typed parameters, executemany
placeholders), `sqlite_pool`.
"""

from app.db.dialect import advisory_lock, bulk_sql, for_update, lock_row, string_agg, typed_param
from app.db.sql import engine, execute_many, fetch, in_transaction, is_sqlite, marks, placeholders, transaction
from app.db.sqlite_pool import PooledSQLiteEngine, TransactionLost

__all__ = [
    "PooledSQLiteEngine",
    "TransactionLost",
    "advisory_lock",
    "bulk_sql",
    "engine",
    "execute_many",
    "fetch",
    "for_update",
    "in_transaction",
    "is_sqlite",
    "lock_row",
    "marks",
    "placeholders",
    "string_agg",
    "transaction",
    "typed_param",
]
