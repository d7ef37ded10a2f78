"""Piccolo tables, one module per domain (named as its package in app/components); `ALL_TABLES` in dependency order."""

from app.tables.allergies import Allergy
from app.tables.audit import AuditEvent
from app.tables.auth import ApiToken, PinLockout, Staff
from app.tables.care import CareCursor, Journey, JourneyEnrolment, JourneyStepRun
from app.tables.care_tasks import CareTask
from app.tables.catalog import Product, ProductCode
from app.tables.consents import ConsentEvent
from app.tables.coupons import Coupon, CouponTemplate
from app.tables.health import Condition, Preference, Vital
from app.tables.imports import ImportJob
from app.tables.loyalty import LoyaltySetting, MemberLoyalty, PointsEntry
from app.tables.members import Household, Member, MemberChange, MemberMerge
from app.tables.messages import Message
from app.tables.outbox import Outbox, OutboxHandled
from app.tables.sales import (
    Cart,
    CartChange,
    CounterDevice,
    Medication,
    ReturnLine,
    ReturnTender,
    Sale,
    SaleApproval,
    SaleLine,
    SaleReturn,
    SaleTraceCode,
    Tender,
)
from app.tables.settings import ChainSetting
from app.tables.stock import Batch, ReturnedPack, StockMove
from app.tables.stores import NumberSequence, Store
from app.tables.timeline import MemberEvent

ALL_TABLES = [
    Store,
    NumberSequence,
    Staff,
    ApiToken,
    PinLockout,
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
    CounterDevice,
    Cart,
    CartChange,
    Sale,
    SaleLine,
    SaleTraceCode,
    Tender,
    SaleApproval,
    SaleReturn,
    ReturnLine,
    ReturnTender,
    Medication,
    Outbox,
    OutboxHandled,
    ReturnedPack,
    PointsEntry,
    MemberLoyalty,
    LoyaltySetting,
    CouponTemplate,
    Coupon,
    ChainSetting,
    CareTask,
    Journey,
    JourneyEnrolment,
    JourneyStepRun,
    CareCursor,
    Message,
]

__all__ = [
    "ALL_TABLES",
    "Allergy",
    "ApiToken",
    "AuditEvent",
    "Batch",
    "CareCursor",
    "CareTask",
    "Cart",
    "CartChange",
    "ChainSetting",
    "Condition",
    "ConsentEvent",
    "CounterDevice",
    "Coupon",
    "CouponTemplate",
    "Household",
    "ImportJob",
    "Journey",
    "JourneyEnrolment",
    "JourneyStepRun",
    "LoyaltySetting",
    "Medication",
    "Member",
    "MemberChange",
    "MemberEvent",
    "MemberLoyalty",
    "MemberMerge",
    "Message",
    "NumberSequence",
    "Outbox",
    "OutboxHandled",
    "PinLockout",
    "PointsEntry",
    "Preference",
    "Product",
    "ProductCode",
    "ReturnLine",
    "ReturnTender",
    "ReturnedPack",
    "Sale",
    "SaleApproval",
    "SaleLine",
    "SaleReturn",
    "SaleTraceCode",
    "Staff",
    "StockMove",
    "Store",
    "Tender",
    "Vital",
]
