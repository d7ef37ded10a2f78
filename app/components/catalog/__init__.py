"""The product catalog: products, their pack codes, categories and drug facts, and the catalog import."""

from app.components.catalog.categories import (
    CATEGORIES_L1,
    CATEGORIES_L2,
    RX_CLASSES,
    category_counts,
    category_l1_code,
    category_l1_label,
    category_l2_label,
    form_label,
    rx_class_label,
)
from app.components.catalog.demo import demo_gtin, demo_rows, demo_sku, demo_trace_prefix, seed_demo_catalog
from app.components.catalog.knowledge import KNOWLEDGE_FIELDS, KnowledgeCard, knowledge_card
from app.components.catalog.lookup import Resolved, get_product, products_by_ids, resolve_code, resolve_codes
from app.components.catalog.products import CODE_KINDS, ProductView, days_supply
from app.components.catalog.search import ProductPage, list_products, search
from app.components.catalog.upsert import PRODUCT_UPSERT, apply_product, upsert_product
from app.components.catalog.validation import ProductInput, validate_input

__all__ = [
    "CATEGORIES_L1",
    "CATEGORIES_L2",
    "CODE_KINDS",
    "KNOWLEDGE_FIELDS",
    "PRODUCT_UPSERT",
    "RX_CLASSES",
    "KnowledgeCard",
    "ProductInput",
    "ProductPage",
    "ProductView",
    "Resolved",
    "apply_product",
    "category_counts",
    "category_l1_code",
    "category_l1_label",
    "category_l2_label",
    "days_supply",
    "demo_gtin",
    "demo_rows",
    "demo_sku",
    "demo_trace_prefix",
    "form_label",
    "get_product",
    "knowledge_card",
    "list_products",
    "products_by_ids",
    "resolve_code",
    "resolve_codes",
    "rx_class_label",
    "search",
    "seed_demo_catalog",
    "upsert_product",
    "validate_input",
]
