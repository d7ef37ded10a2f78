"""The member timeline: one append-only stream of events every domain adds to."""

from piccolo.columns import ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.auth import Staff
from app.tables.members import Member
from app.tables.stores import Store


class MemberEvent(Table, tablename="member_event"):
    """The member's timeline: registrations, edits, purchases, follow-ups, messages, complaints …"""

    member = ForeignKey(references=Member)  # indexed by member_event_member_at (member, at)
    at = Timestamptz(default=TimestamptzNow())
    kind = Varchar(length=30)
    summary = Text(default="")
    staff = ForeignKey(references=Staff, null=True)
    store = ForeignKey(references=Store, null=True)
    ref = Varchar(length=40, default="")
