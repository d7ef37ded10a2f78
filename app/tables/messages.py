"""Messages: the outbox of SMS to members and robot notices to stores, written in the transaction that caused them."""

from piccolo.columns import JSON, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.members import Member
from app.tables.stores import Store


class Message(Table, tablename="message"):
    """One message to send once: `key` is unique; the sender claims due rows, renders `body` and records delivery."""

    key = Varchar(length=120, unique=True)
    member = ForeignKey(references=Member, null=True)  # null: a staff notice to the store's robot
    store = ForeignKey(references=Store, null=True)
    purpose = Varchar(length=12)  # care | marketing | service | staff
    template = Varchar(length=40)
    params = JSON(default="{}")
    channel = Varchar(length=10, default="log")  # sms | wecom | dingtalk | log
    language = Varchar(length=8, default="")  # the member's language when rendered
    status = Varchar(length=10, default="queued")  # queued|deferred|sending|sent|delivered|failed|suppressed
    reason = Varchar(length=40, default="")  # why deferred, suppressed or failed
    body = Text(default="")  # rendered at send time
    not_before = Timestamptz(default=TimestamptzNow())
    attempts = Integer(default=0)
    last_error = Text(default="")
    claimed_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    sent_at = Timestamptz(null=True, default=None)
