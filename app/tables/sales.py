"""Counter tablets and carts, sales with their lines, tenders and approvals, returns and medication history."""

from piccolo.columns import JSON, Date, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.auth import Staff
from app.tables.catalog import Product
from app.tables.members import Member
from app.tables.stores import Store


class CounterDevice(Table, tablename="counter_device"):
    """A counter tablet of a store, named once by its staff; its cookie holds a random token, only its SHA-256
    is stored. A revoked tablet is asked to be named again."""

    store = ForeignKey(references=Store)
    name = Varchar(length=40)
    token_hash = Varchar(length=64, unique=True)
    created_by = ForeignKey(references=Staff)
    created_at = Timestamptz(default=TimestamptzNow())
    revoked_at = Timestamptz(null=True, default=None)
    revoked_by = ForeignKey(references=Staff, null=True)


class Cart(Table, tablename="cart"):
    """A sale being built at the counter by one staff member on one tablet. `key` becomes the sale's idempotency
    key at checkout. A parked cart waits in the store's held-sales list until it is resumed or `expires_at`."""

    key = Varchar(length=40, unique=True)
    store = ForeignKey(references=Store)
    staff = ForeignKey(references=Staff)
    member = ForeignKey(references=Member, null=True)
    lines = JSON(default="[]")
    coupon_codes = JSON(default="[]")
    prescription = JSON(default="{}")
    override = JSON(default="{}")
    status = Varchar(length=12, default="open")  # open | parked | done | abandoned | expired
    sale = Integer(null=True, default=None)  # sale.id once checked out
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    device = ForeignKey(references=CounterDevice, null=True)
    tender = JSON(default="{}")  # the tender tapped and the amounts typed: {"kind", "amount", "points_amount"}
    pending_member = ForeignKey(references=Member, null=True)  # a card scanned for another customer, not yet answered
    parked_at = Timestamptz(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)


class CartChange(Table, tablename="cart_change"):
    """One applied change to a cart, by the key the counter sent with it: a retried change is not applied again."""

    cart = ForeignKey(references=Cart)
    key = Varchar(length=64, unique=True)
    action = Varchar(length=20, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class Sale(Table, tablename="sale"):
    """A completed sale; money in fen. One row per idempotency key, whatever the retries."""

    sale_no = Varchar(length=20, unique=True)
    idempotency_key = Varchar(length=80, unique=True)
    store = ForeignKey(references=Store)
    staff = ForeignKey(references=Staff)
    member = ForeignKey(references=Member, null=True)
    status = Varchar(length=14, default="completed")  # completed | part_returned | returned
    subtotal = Integer(default=0)
    line_discount = Integer(default=0)
    coupon_discount = Integer(default=0)
    total = Integer(default=0)
    paid = Integer(default=0)
    change_given = Integer(default=0)
    points_earned = Integer(default=0)
    points_redeemed = Integer(default=0)
    override_reason = Text(default="")
    override_by = ForeignKey(references=Staff, null=True)
    rx_number = Varchar(length=40, default="")
    rx_hospital = Varchar(length=100, default="")
    rx_image = Varchar(length=200, default="")
    rx_verified_by = ForeignKey(references=Staff, null=True)
    created_at = Timestamptz(default=TimestamptzNow())


class SaleLine(Table, tablename="sale_line"):
    """One product on a sale, with the alerts shown for it and the codes scanned."""

    sale = ForeignKey(references=Sale, index=True)
    line_no = Integer()
    product = ForeignKey(references=Product)
    qty = Integer()
    unit_price = Integer()
    line_discount = Integer(default=0)
    coupon_share = Integer(default=0)
    total = Integer()
    returned_qty = Integer(default=0)
    alerts = JSON(default="[]")
    codes = JSON(default="[]")


class SaleTraceCode(Table, tablename="sale_trace_code"):
    """A 20-digit drug traceability code (one per unit) recorded on a sale line."""

    sale_line = ForeignKey(references=SaleLine, index=True)
    code = Varchar(length=20, index=True)
    returned = Integer(default=0)  # 1 once the unit came back


class Tender(Table, tablename="sale_tender"):
    """How a sale was paid: cash, bank_card, wechat, alipay, insurance or points (amount in fen)."""

    sale = ForeignKey(references=Sale, index=True)
    kind = Varchar(length=12)
    amount = Integer()
    reference = Varchar(length=60, default="")


class SaleApproval(Table, tablename="sale_approval"):
    """One approval a sale went ahead with, each recorded on its own: a pharmacist's allergy override (per line and
    allergy, with the reason), the prescription check, an acknowledged allergy warning (per line and allergy), or a
    store manager's approval to sell beyond stock. `staff` approved or acknowledged it, at `at`."""

    sale = ForeignKey(references=Sale, index=True)
    kind = Varchar(length=24)  # allergy_override | rx_verified | allergy_acknowledged | oversell
    line_no = Integer(null=True, default=None)
    allergen_class = Varchar(length=40, default="")
    reason = Text(default="")
    staff = ForeignKey(references=Staff)
    at = Timestamptz(default=TimestamptzNow())


class SaleReturn(Table, tablename="sale_return"):
    """A refund of a whole sale or some of its lines."""

    return_no = Varchar(length=20, unique=True)
    idempotency_key = Varchar(length=80, unique=True)
    sale = ForeignKey(references=Sale, index=True)
    store = ForeignKey(references=Store)
    staff = ForeignKey(references=Staff)
    reason = Text(default="")
    amount = Integer(default=0)
    points_reversed = Integer(default=0)
    points_restored = Integer(default=0)
    approved_by = ForeignKey(references=Staff, null=True)  # the store manager who allowed a restricted return
    tender_reason = Text(default="")  # why the money went to another tender than the sale's
    created_at = Timestamptz(default=TimestamptzNow())


class ReturnTender(Table, tablename="sale_return_tender"):
    """Where a refund's money went: `kind` paid out, taken from the sale's `original_kind` tender (they differ
    only when staff chose another tender, with the return's `tender_reason`)."""

    sale_return = ForeignKey(references=SaleReturn, index=True)
    kind = Varchar(length=12)
    original_kind = Varchar(length=12)
    amount = Integer()


class ReturnLine(Table, tablename="sale_return_line"):
    """How many units of one sale line came back, and the money for them."""

    sale_return = ForeignKey(references=SaleReturn, index=True)
    sale_line = ForeignKey(references=SaleLine)
    qty = Integer()
    amount = Integer()


class Medication(Table, tablename="medication"):
    """The member's medication history: one row per purchased line, with its days of supply."""

    member = ForeignKey(references=Member)
    sale_line = ForeignKey(references=SaleLine, unique=True)
    product = ForeignKey(references=Product)
    atc = Varchar(length=8, default="")
    qty = Integer()
    started_on = Date()
    supply_until = Date(null=True, default=None)
    store = ForeignKey(references=Store, null=True)
