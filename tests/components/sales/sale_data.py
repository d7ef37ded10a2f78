"""Products, stock and members for the sale tests, written through the components (or plain SQL for products)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.components import catalog, members, sales, stock
from app.components.core.clock import store_today
from app.components.scanning import synthetic_gtin13
from app.db import fetch
from tests.conftest import actor, grant_health_consent

# sku: (name, generic, atc, allergen class, substance, rx, price fen, pack units, units per day, points excluded)
PRODUCTS = {
    "YS90001": ("阿莫西林胶囊", "amoxicillin", "J01CA04", "penicillins", "amoxicillin", "Rx", 1850, 24, 3.0, False),
    "YS90002": (
        "头孢氨苄胶囊",
        "cefalexin",
        "J01DB01",
        "cephalosporins_aminocephalosporin",
        "cefalexin",
        "Rx",
        2200,
        24,
        4.0,
        False,
    ),
    "YS90003": (
        "头孢呋辛酯片",
        "cefuroxime axetil",
        "J01DC02",
        "cephalosporins",
        "cefuroxime",
        "Rx",
        3600,
        12,
        2.0,
        False,
    ),
    "YS90004": ("阿司匹林肠溶片", "aspirin", "B01AC06", "salicylates", "aspirin", "OTC", 1500, 30, 1.0, False),
    "YS90005": ("氨氯地平片", "amlodipine", "C08CA01", "", "amlodipine", "OTC", 3000, 28, 1.0, False),
    "YS90006": ("硝苯地平缓释片", "nifedipine", "C08CA05", "", "nifedipine", "OTC", 2500, 30, 1.0, False),
    "YS90007": ("维生素C片", "vitamin C", "A11GA01", "", "ascorbic acid", "OTC", 990, 100, 0.0, False),
    "YS90008": ("布洛芬缓释胶囊", "ibuprofen", "M01AE01", "nsaids", "ibuprofen", "OTC", 1680, 20, 2.0, False),
    "YS90009": ("医用口罩", "mask", "", "", "", "device", 500, 10, 0.0, True),
}
PRICE = {sku: row[6] for sku, row in PRODUCTS.items()}
# The product whose units carry traceability codes in the tests, and its 7-digit product prefix in the catalog.
TRACED, TRACE_PREFIX = "YS90007", "8123456"


async def make_products() -> dict[str, catalog.ProductView]:
    """The test products with a synthetic GTIN each; sku → view."""
    for n, (sku, row) in enumerate(PRODUCTS.items(), start=1):
        name, generic, atc, allergen, substance, rx, price, pack, per_day, excluded = row
        rows = await fetch(
            "INSERT INTO product (sku, name_zh, name_en, generic_zh, generic_en, atc, allergen_classes, substance,"
            " rx_class, category_l1, category_l2, form, price, pack_units, units_per_day, cold_chain, dtp,"
            " points_excluded, knowledge, active, created_at, updated_at)"
            " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, '', '', 'tablet', {}, {}, {}, {}, {}, {}, {}, {},"
            " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id",
            sku,
            name,
            generic,
            name,
            generic,
            atc,
            allergen,
            substance,
            rx,
            price,
            pack,
            per_day,
            False,
            False,
            excluded,
            "{}",
            True,
        )
        gtin = "0" + synthetic_gtin13(90000 + n)
        await fetch("INSERT INTO product_code (code, product, kind) VALUES ({}, {}, 'gtin')", gtin, rows[0]["id"])
        if sku == TRACED:
            await fetch(
                "INSERT INTO product_code (code, product, kind) VALUES ({}, {}, 'trace')", TRACE_PREFIX, rows[0]["id"]
            )
    found = await catalog.products_by_ids([r["id"] for r in await fetch("SELECT id FROM product")])
    return {view.sku: view for view in found.values()}


def gtin(sku: str) -> str:
    """The EAN-13 a scanner would send for a test product."""
    n = list(PRODUCTS).index(sku) + 1
    return synthetic_gtin13(90000 + n)


async def stock_in(sku: str, qty: int, batch_no: str, days: int = 365, store_code: str = "SH001") -> None:
    """Receive `qty` units of a batch expiring in `days` days."""
    await stock.receive(
        stock.Receipt(
            store_code=store_code,
            product=sku,
            batch_no=batch_no,
            expiry=store_today() + timedelta(days=days),
            qty=qty,
            key=f"test:{store_code}:{sku}:{batch_no}",
        ),
        await actor("manager"),
    )


async def make_member(name: str = "周健", allergies: tuple[str, ...] = (), status: str | None = None) -> str:
    """A member with health consent and the given allergy classes; returns the member number."""
    view = await members.register(members.NewMember(name=name), await actor())
    await grant_health_consent(view.member_no)
    for allergen in allergies:
        await members.add_allergy(view.member_no, members.NewAllergy(allergen_class=allergen), await actor())
    if status == "none":
        await members.record_no_known_allergies(view.member_no, await actor())
    return view.member_no


async def zhang_wei() -> str:
    """A member recorded like the demo's 张伟 (8000000011): a high penicillin allergy (anaphylaxis) and a
    low-criticality NSAID allergy (hives); returns the member number."""
    view = await members.register(members.NewMember(name="张伟"), await actor())
    await grant_health_consent(view.member_no)
    for cls, substance, criticality, reaction in (
        ("penicillins", "amoxicillin", "high", "anaphylaxis"),
        ("nsaids", "", "low", "urticaria"),
    ):
        new = members.NewAllergy(allergen_class=cls, substance=substance, criticality=criticality, reaction=reaction)
        await members.add_allergy(view.member_no, new, await actor())
    return view.member_no


async def store_id(code: str = "SH001") -> int:
    return (await fetch("SELECT id FROM store WHERE code = {}", code))[0]["id"]


async def on_hand(sku: str, store_code: str = "SH001") -> int:
    rows = await fetch(
        "SELECT COALESCE(SUM(b.on_hand), 0) AS n FROM stock_batch b JOIN product p ON p.id = b.product"
        " JOIN store s ON s.id = b.store WHERE p.sku = {} AND s.code = {}",
        sku,
        store_code,
    )
    return int(rows[0]["n"])


async def points(member_no: str) -> int:
    rows = await fetch(
        "SELECT COALESCE(SUM(e.points), 0) AS n FROM points_entry e JOIN member m ON m.id = e.member"
        " WHERE m.member_no = {}",
        member_no,
    )
    return int(rows[0]["n"])


async def count(table: str) -> int:
    return (await fetch(f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"]


async def sale_events() -> int:
    """Outbox events of sales (registering the test's member records events of its own)."""
    return (await fetch("SELECT COUNT(*) AS n FROM outbox WHERE kind LIKE 'sale.%'"))[0]["n"]


async def request(
    key: str = "k1",
    member_no: str | None = None,
    lines: list[tuple[str, int]] | None = None,
    tenders: list[tuple[str, int]] | None = None,
    **extra: object,
) -> sales.SaleRequest:
    """A sale request at SH001; `tenders=None` pays the exact total in cash."""
    lines = lines if lines is not None else [("YS90007", 1)]
    if tenders is None:
        tenders = [("cash", sum(PRICE.get(sku, 100) * qty for sku, qty in lines))]
    return sales.SaleRequest(
        idempotency_key=key,
        store_id=await store_id(),
        member_no=member_no,
        lines=[sales.LineRequest(code=sku, qty=qty) for sku, qty in lines],
        tenders=[sales.TenderRequest(kind, amount) for kind, amount in tenders],
        **extra,  # type: ignore[arg-type]
    )


async def past_sale(member_id: int, sale_no: str, total: int, days_ago: float = 0) -> int:
    """A sale row as the sale component writes it (the spend that tiers are computed from)."""
    store = (await fetch("SELECT id FROM store WHERE code = 'SH001'"))[0]["id"]
    staff = (await fetch("SELECT id FROM staff WHERE username = 'pharmacist'"))[0]["id"]
    rows = await fetch(
        "INSERT INTO sale (sale_no, idempotency_key, store, staff, member, status, subtotal, line_discount,"
        " coupon_discount, total, paid, change_given, points_earned, points_redeemed, override_reason, rx_number,"
        " rx_hospital, rx_image, created_at) VALUES ({}, {}, {}, {}, {}, 'completed', {}, 0, 0, {}, {}, 0, 0, 0,"
        " '', '', '', '', {}) RETURNING id",
        sale_no,
        sale_no,
        store,
        staff,
        member_id,
        total,
        total,
        total,
        datetime.now(UTC) - timedelta(days=days_ago),
    )
    return rows[0]["id"]


async def printed_coupon(
    code: str, value: int = 1000, threshold: int = 2000, restore: bool = True, sku: str = ""
) -> None:
    """A printed coupon: `value` fen off from `threshold`, on the whole cart or on one product (`sku`)."""
    rows = await fetch(
        "INSERT INTO coupon_template (code, name_zh, name_en, kind, value, threshold, scope, scope_value,"
        " per_member_limit, stackable, restore_on_return, active, created_at)"
        " VALUES ({}, '满20减10', '10 off 20', 'amount', {}, {}, {}, {}, 0, {}, {}, {}, CURRENT_TIMESTAMP)"
        " RETURNING id",
        f"T{code}",
        value,
        threshold,
        "product" if sku else "all",
        sku,
        False,
        restore,
        True,
    )
    await fetch(
        "INSERT INTO coupon (code, template, status, source, issued_at) VALUES ({}, {}, 'issued', 'printed',"
        " CURRENT_TIMESTAMP)",
        code,
        rows[0]["id"],
    )
