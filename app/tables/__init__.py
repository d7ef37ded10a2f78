"""Piccolo tables, one module per domain; `ALL_TABLES` lists them in dependency order."""

from app.tables.audit import AuditEvent
from app.tables.care import ConsentEvent, Household, ImportJob, MemberChange, MemberEvent, MemberMerge
from app.tables.catalog import Product, ProductCode
from app.tables.health import Condition, Preference, Vital
from app.tables.loyalty import Coupon, CouponTemplate, LoyaltySetting, MemberLoyalty, PointsEntry
from app.tables.members import Allergy, Member
from app.tables.sales import Cart, Medication, Outbox, ReturnLine, Sale, SaleLine, SaleReturn, SaleTraceCode, Tender
from app.tables.staff import ApiToken, Staff
from app.tables.stock import Batch, StockMove
from app.tables.stores import NumberSequence, Store

ALL_TABLES = [
    Store,
    NumberSequence,
    Staff,
    ApiToken,
    Member,
    Allergy,
    AuditEvent,
    Condition,
    Vital,
    Preference,
    ConsentEvent,
    Household,
    MemberEvent,
    MemberChange,
    MemberMerge,
    ImportJob,
    Product,
    ProductCode,
    Batch,
    StockMove,
    Cart,
    Sale,
    SaleLine,
    SaleTraceCode,
    Tender,
    SaleReturn,
    ReturnLine,
    Medication,
    Outbox,
    PointsEntry,
    MemberLoyalty,
    LoyaltySetting,
    CouponTemplate,
    Coupon,
]

__all__ = [
    "ALL_TABLES",
    "Allergy",
    "ApiToken",
    "AuditEvent",
    "Batch",
    "Cart",
    "Condition",
    "ConsentEvent",
    "Coupon",
    "CouponTemplate",
    "Household",
    "ImportJob",
    "LoyaltySetting",
    "Medication",
    "Member",
    "MemberChange",
    "MemberEvent",
    "MemberLoyalty",
    "MemberMerge",
    "NumberSequence",
    "Outbox",
    "PointsEntry",
    "Preference",
    "Product",
    "ProductCode",
    "ReturnLine",
    "Sale",
    "SaleLine",
    "SaleReturn",
    "SaleTraceCode",
    "Staff",
    "StockMove",
    "Store",
    "Tender",
    "Vital",
]
