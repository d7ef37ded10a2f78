"""Stock by batch: batches per store and product, and the append-only ledger of stock moves."""

from piccolo.columns import Boolean, Date, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.auth import Staff
from app.tables.catalog import Product
from app.tables.stores import Store


class Batch(Table, tablename="stock_batch"):
    """A manufacturer's batch of one product in one store. `on_hand` caches the sum of its stock moves."""

    store = ForeignKey(references=Store)
    product = ForeignKey(references=Product)
    batch_no = Varchar(length=20)
    expiry = Date()
    status = Varchar(length=12, default="available")  # available | quarantined | recalled
    on_hand = Integer(default=0)
    received_at = Timestamptz(default=TimestamptzNow())


class StockMove(Table, tablename="stock_move"):
    """One signed quantity in or out of a batch; never updated. `key` makes a retried move a no-op.

    `batch` is null only for a sale beyond stock that a manager allowed (the shortfall has no batch).
    """

    batch = ForeignKey(references=Batch, null=True)
    store = ForeignKey(references=Store)
    product = ForeignKey(references=Product)
    qty = Integer()
    kind = Varchar(length=14)  # receipt | sale | return | quarantine | release | adjust | transfer_out | transfer_in
    ref = Varchar(length=40, default="")  # sale_no, return_no, receipt or transfer reference
    key = Varchar(length=100, unique=True)
    staff = ForeignKey(references=Staff, null=True)
    at = Timestamptz(default=TimestamptzNow())


class ReturnedPack(Table, tablename="returned_pack"):
    """Units a customer brought back, held in quarantine (out of sellable stock) until a manager releases them to
    their batch or writes them off. `batch` is null for units sold beyond recorded stock; `restricted` marks
    dispensed Rx, antibiotic (ATC J01) and cold-chain medicines, which are never resold. `key` is unique."""

    key = Varchar(length=100, unique=True)
    store = ForeignKey(references=Store)
    product = ForeignKey(references=Product)
    batch = ForeignKey(references=Batch, null=True)
    sale_no = Varchar(length=20)
    return_no = Varchar(length=20)
    line_no = Integer()
    qty = Integer()
    restricted = Boolean(default=False)
    status = Varchar(length=12, default="held")  # held | released | written_off
    staff = ForeignKey(references=Staff, null=True)
    created_at = Timestamptz(default=TimestamptzNow())
    decided_by = ForeignKey(references=Staff, null=True)
    decided_at = Timestamptz(null=True, default=None)
    decision_reason = Text(default="")
