"""Demo data: the chain, stores, staff, members, products, stock and a history of sales for `make run`."""

from app.components.seed.demo import (
    DEMO_PASSWORD,
    DEMO_PIN,
    DEMO_STAFF,
    DEMO_STORES,
    PIN_ROLES,
    add_staff,
    ensure_store,
    seed_chain,
    seed_demo,
)
from app.components.seed.sales_history import seed_sales_history

__all__ = [
    "DEMO_PASSWORD",
    "DEMO_PIN",
    "DEMO_STAFF",
    "DEMO_STORES",
    "PIN_ROLES",
    "add_staff",
    "ensure_store",
    "seed_chain",
    "seed_demo",
    "seed_sales_history",
]
