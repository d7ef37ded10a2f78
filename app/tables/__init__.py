"""Piccolo tables, one module per domain; `ALL_TABLES` lists them in dependency order."""

from app.tables.audit import AuditEvent
from app.tables.care import ConsentEvent, Household, ImportJob, MemberChange, MemberEvent, MemberMerge
from app.tables.health import Condition, Preference, Vital
from app.tables.members import Allergy, Member
from app.tables.staff import ApiToken, Staff
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
]

__all__ = [
    "ALL_TABLES",
    "Allergy",
    "ApiToken",
    "AuditEvent",
    "Condition",
    "ConsentEvent",
    "Household",
    "ImportJob",
    "Member",
    "MemberChange",
    "MemberEvent",
    "MemberMerge",
    "NumberSequence",
    "Preference",
    "Staff",
    "Store",
    "Vital",
]
