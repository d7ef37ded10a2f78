"""The chain's product catalog and every code that names a product (GTINs, traceability prefixes, aliases)."""

from piccolo.columns import JSON, Boolean, Float, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Product(Table, tablename="product"):
    """One sellable item. Money in fen per pack; `units_per_day` > 0 gives days of supply = pack_units / it."""

    sku = Varchar(length=24, unique=True)
    name_zh = Varchar(length=100)
    name_en = Varchar(length=100, default="")
    generic_zh = Varchar(length=100, default="")
    generic_en = Varchar(length=100, default="")
    atc = Varchar(length=8, default="", index=True)
    allergen_classes = Varchar(length=200, default="")  # space-separated allergen class codes
    substance = Varchar(length=60, default="")  # the active substance, matched against recorded allergy substances
    rx_class = Varchar(length=6, default="OTC")  # Rx | OTC | device
    category_l1 = Varchar(length=20, default="")
    category_l2 = Varchar(length=20, default="")
    form = Varchar(length=20, default="")
    price = Integer(default=0)
    pack_units = Integer(default=1)
    units_per_day = Float(default=0.0)
    cold_chain = Boolean(default=False)
    dtp = Boolean(default=False)
    points_excluded = Boolean(default=False)
    knowledge = JSON(default="{}")  # {"indications"|"usage"|"contraindications"|"counselling": {"zh": …, "en": …}}
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class ProductCode(Table, tablename="product_code"):
    """A code that resolves to a product: a GTIN-14, a 7-digit traceability product prefix, or an alias."""

    code = Varchar(length=32, unique=True)
    product = ForeignKey(references=Product, index=True)
    kind = Varchar(length=12, default="gtin")  # gtin | trace | alias
