"""Loyalty: the append-only points ledger, each member's tier and the earning rules."""

from piccolo.columns import JSON, Date, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.auth import Staff
from app.tables.members import Member
from app.tables.stores import Store


class PointsEntry(Table, tablename="points_entry"):
    """One signed change of a member's points; never updated. Balance = sum(points). `key` is unique."""

    member = ForeignKey(references=Member)
    kind = Varchar(length=10)  # earn | redeem | expire | reverse | restore | adjust | gift
    points = Integer()
    ref = Varchar(length=40, default="")  # sale_no, return_no, gift or adjustment reference
    key = Varchar(length=100, unique=True)
    expires_on = Date(null=True, default=None)  # for earn (and its reversal): the last day the points count
    store = ForeignKey(references=Store, null=True)
    staff = ForeignKey(references=Staff, null=True)
    at = Timestamptz(default=TimestamptzNow())


class MemberLoyalty(Table, tablename="member_loyalty"):
    """A member's tier and cached figures (the ledger and the sales are the truth)."""

    member = ForeignKey(references=Member, unique=True)
    tier = Varchar(length=12, default="regular")  # regular | silver | gold | diamond
    tier_since = Date(null=True, default=None)
    reviewed_on = Date(null=True, default=None)
    balance = Integer(default=0)


class LoyaltySetting(Table, tablename="loyalty_setting"):
    """A configurable loyalty rule (earning rate, member day, tier thresholds …) as JSON."""

    name = Varchar(length=40, unique=True)
    value = JSON(default="{}")
    updated_at = Timestamptz(default=TimestamptzNow())
    updated_by = ForeignKey(references=Staff, null=True)
