"""The outbox: events written in the transaction that caused them, for the worker to act on once."""

from piccolo.columns import JSON, ForeignKey, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.members import Member
from app.tables.stores import Store


class Outbox(Table, tablename="outbox"):
    """Events for care journeys and messaging, written in the transaction that caused them; `key` is unique."""

    key = Varchar(length=100, unique=True)
    kind = Varchar(length=30)  # e.g. sale.completed, sale.returned
    member = ForeignKey(references=Member, null=True)
    store = ForeignKey(references=Store, null=True)
    payload = JSON(default="{}")
    created_at = Timestamptz(default=TimestamptzNow())
    dispatched_at = Timestamptz(null=True, default=None)
