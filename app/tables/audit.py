"""Append-only audit events: who looked at or changed what, from where."""

from piccolo.columns import ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.auth import Staff
from app.tables.members import Member
from app.tables.stores import Store


class AuditEvent(Table, tablename="audit_event"):
    """One audited action; rows are never updated or deleted."""

    at = Timestamptz(default=TimestamptzNow(), index=True)
    staff = ForeignKey(references=Staff, null=True)
    username = Varchar(length=60, default="")
    role = Varchar(length=20, default="")
    store = ForeignKey(references=Store, null=True)
    member = ForeignKey(references=Member, null=True)  # indexed with `at` in migration 0001
    action = Varchar(length=40, index=True)
    channel = Varchar(length=10, default="web")
    client_addr = Varchar(length=64, default="")
    detail = Text(default="")
