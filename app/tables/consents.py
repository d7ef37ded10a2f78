"""Consents: the append-only ledger of what each member agreed to, by purpose, channel and text version."""

from piccolo.columns import Boolean, ForeignKey, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.auth import Staff
from app.tables.members import Member


class ConsentEvent(Table, tablename="consent_event"):
    """One grant or withdrawal of a consent purpose; never updated, the latest per purpose is in force."""

    member = ForeignKey(references=Member, index=True)
    purpose = Varchar(length=20)  # health_data | marketing_sms | marketing_wechat | kiosk_display
    granted = Boolean()
    at = Timestamptz(default=TimestamptzNow())
    channel = Varchar(length=10, default="counter")  # counter | kiosk | api | import
    staff = ForeignKey(references=Staff, null=True)
    text_version = Varchar(length=20, default="")
