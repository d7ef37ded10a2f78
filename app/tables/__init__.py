"""Piccolo tables, one module per domain; `ALL_TABLES` lists them in dependency order."""

from app.tables.audit import AuditEvent
from app.tables.members import Allergy, Member
from app.tables.staff import ApiToken, Staff
from app.tables.stores import NumberSequence, Store

ALL_TABLES = [Store, NumberSequence, Staff, ApiToken, Member, Allergy, AuditEvent]

__all__ = ["ALL_TABLES", "Allergy", "ApiToken", "AuditEvent", "Member", "NumberSequence", "Staff", "Store"]
