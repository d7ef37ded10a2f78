"""Stores of the chain and named number sequences."""

from piccolo.columns import BigInt, Boolean, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Store(Table, tablename="store"):
    """One pharmacy of the chain; `code` is what staff type (e.g. SH001)."""

    code = Varchar(length=16, unique=True, index=True)
    name = Varchar(length=100)
    phone = Varchar(length=30, default="")  # printed on receipts, refund slips and guidance slips
    timezone = Varchar(length=40, default="Asia/Shanghai")
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())


class NumberSequence(Table, tablename="number_sequence"):
    """Counters for human-facing numbers (member numbers, later sale numbers)."""

    name = Varchar(length=40, unique=True)
    value = BigInt(default=0)
