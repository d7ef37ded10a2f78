"""Consents (append-only), households, the member timeline, edit history, merges and import jobs."""

from piccolo.columns import JSON, Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.members import Member
from app.tables.staff import Staff
from app.tables.stores import Store


class ConsentEvent(Table, tablename="consent_event"):
    """One grant or withdrawal of a consent purpose; never updated, the latest per purpose is in force."""

    member = ForeignKey(references=Member, index=True)
    purpose = Varchar(length=20)  # health_data | marketing_sms | marketing_wechat | kiosk_display
    granted = Boolean()
    at = Timestamptz(default=TimestamptzNow())
    channel = Varchar(length=10, default="counter")  # counter | kiosk | api | import
    staff = ForeignKey(references=Staff, null=True)
    text_version = Varchar(length=20, default="")


class Household(Table, tablename="household"):
    """Family members linked together; one adult is the household's contact."""

    name = Varchar(length=60, default="")
    contact = ForeignKey(references=Member, null=True)
    created_at = Timestamptz(default=TimestamptzNow())


class MemberEvent(Table, tablename="member_event"):
    """The member's timeline: registrations, edits, purchases, follow-ups, messages, complaints …"""

    member = ForeignKey(references=Member)  # indexed by member_event_member_at (member, at)
    at = Timestamptz(default=TimestamptzNow())
    kind = Varchar(length=30)
    summary = Text(default="")
    staff = ForeignKey(references=Staff, null=True)
    store = ForeignKey(references=Store, null=True)
    ref = Varchar(length=40, default="")


class MemberChange(Table, tablename="member_change"):
    """Edit history: who changed which field when (encrypted fields record the change, not the values)."""

    member = ForeignKey(references=Member, index=True)
    at = Timestamptz(default=TimestamptzNow())
    staff = ForeignKey(references=Staff, null=True)
    field = Varchar(length=30)
    old_value = Text(default="")
    new_value = Text(default="")


class MemberMerge(Table, tablename="member_merge"):
    """A merge of `merged` into `survivor`, with what moved so it can be undone."""

    survivor = ForeignKey(references=Member)
    merged = ForeignKey(references=Member)
    at = Timestamptz(default=TimestamptzNow())
    staff = ForeignKey(references=Staff, null=True)
    moved = JSON(default="{}")
    undone_at = Timestamptz(null=True, default=None)
    undone_by = ForeignKey(references=Staff, null=True)


class ImportJob(Table, tablename="import_job"):
    """A bulk import run by the worker; progress and the row report live here."""

    job_key = Varchar(length=40, unique=True)
    kind = Varchar(length=20, default="members")
    store = ForeignKey(references=Store, null=True)
    staff = ForeignKey(references=Staff, null=True)
    filename = Varchar(length=200, default="")
    file_sha256 = Varchar(length=64, default="")
    status = Varchar(length=12, default="queued")  # queued | running | done | failed
    total = Integer(default=0)
    processed = Integer(default=0)
    accepted = Integer(default=0)
    updated = Integer(default=0)
    unchanged = Integer(default=0)
    rejected = Integer(default=0)
    error = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    finished_at = Timestamptz(null=True, default=None)
