"""Demo stock: 2–3 batches of every active product in every store, one expired and one quarantined batch to show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.components.core.clock import store_today
from app.components.stock import queries
from app.components.stock.batches import AVAILABLE, QUARANTINED
from app.db import transaction


async def seed_demo_stock() -> int:
    """Stock every active product in every store: 2–3 batches with different expiries, plus one expired and one
    quarantined batch in the first store for demos. Set-based and idempotent; returns the batches created."""
    today = store_today()
    now = datetime.now(UTC)
    early = [today + timedelta(days=d) for d in (45, 75, 120, 160)]
    late = today + timedelta(days=540)
    short = today + timedelta(days=20)
    async with transaction():
        before = await queries.count_batches()
        for suffix, dates in (("A", early), ("B", [late]), ("C", [short])):
            await queries.seed_batches(suffix, dates, now)
        store_id, demo_products = await queries.first_store_and_products()
        if store_id is not None and len(demo_products) == 2:
            for product, batch_no, expiry, status in (
                (demo_products[0], "DEMO-EXPIRED", today - timedelta(days=10), AVAILABLE),
                (demo_products[1], "DEMO-QUARANTINE", today + timedelta(days=200), QUARANTINED),
            ):
                await queries.insert_demo_batch(store_id, product, batch_no, expiry, status, now)
        # The ledger rows that explain the seeded quantities.
        await queries.seed_moves(now)
        after = await queries.count_batches()
    return after - before
