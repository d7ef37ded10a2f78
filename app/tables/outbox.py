"""The outbox: domain events written in the transaction that caused them, and which handler handled each, once."""

from piccolo.columns import JSON, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.members import Member
from app.tables.stores import Store


class Outbox(Table, tablename="outbox"):
    """Domain events (a sale, a registration, a consent change …), written in the transaction that caused them;
    `key` is unique. `dispatched_at` is set once every handler has handled it; `attempts` counts failed runs."""

    key = Varchar(length=100, unique=True)
    kind = Varchar(length=30)  # e.g. sale.completed, member.registered, consent.changed
    member = ForeignKey(references=Member, null=True)
    store = ForeignKey(references=Store, null=True)
    payload = JSON(default="{}")
    created_at = Timestamptz(default=TimestamptzNow())
    dispatched_at = Timestamptz(null=True, default=None)
    attempts = Integer(default=0)
    last_error = Text(default="")


class OutboxHandled(Table, tablename="outbox_handled"):
    """Handler `handler` handled event `event`: written in the handler's own transaction, unique per pair, so an
    event is handled once per handler whatever crashes in between."""

    event = ForeignKey(references=Outbox)
    handler = Varchar(length=40)
    handled_at = Timestamptz(default=TimestamptzNow())
