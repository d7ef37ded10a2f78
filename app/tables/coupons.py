"""Coupon templates that HQ defines and the coupons issued to members."""

from piccolo.columns import Boolean, Date, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.members import Member


class CouponTemplate(Table, tablename="coupon_template"):
    """What a coupon gives and when it may be used. Amounts in fen; percent as whole percent off."""

    code = Varchar(length=24, unique=True)
    name_zh = Varchar(length=60)
    name_en = Varchar(length=60, default="")
    kind = Varchar(length=8, default="amount")  # amount | percent
    value = Integer()
    threshold = Integer(default=0)
    scope = Varchar(length=10, default="all")  # all | category | product
    scope_value = Varchar(length=40, default="")  # category_l1 or sku
    valid_from = Date(null=True, default=None)
    valid_to = Date(null=True, default=None)
    valid_days = Integer(null=True, default=None)  # or: valid this many days from issue
    per_member_limit = Integer(default=1)
    stackable = Boolean(default=False)
    restore_on_return = Boolean(default=True)
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())


class Coupon(Table, tablename="coupon"):
    """One issued coupon (to a member, or printed). Redeemed at most once: the update is conditional."""

    code = Varchar(length=24, unique=True)
    template = ForeignKey(references=CouponTemplate)
    member = ForeignKey(references=Member, null=True)
    status = Varchar(length=10, default="issued")  # issued | redeemed | void
    source = Varchar(length=12, default="manual")  # journey | campaign | birthday | printed | manual
    source_key = Varchar(length=100, null=True, default=None, unique=True)
    valid_from = Date(null=True, default=None)
    valid_to = Date(null=True, default=None)
    sale = Integer(null=True, default=None)  # sale.id that redeemed it
    redeemed_at = Timestamptz(null=True, default=None)
    issued_at = Timestamptz(default=TimestamptzNow())
