"""The audit trail: who did what to which member, and who viewed health data; append-only."""

from app.components.audit.log import (
    ALLERGY_NONE,
    ALLERGY_RECORD,
    ALLERGY_VIEW,
    FILTER_ACTIONS,
    LOGIN,
    LOGOUT,
    MEMBER_CREATE,
    PIN_FAILED,
    PIN_LOCKED,
    AuditFilter,
    action_label,
    record,
    search,
)

__all__ = [
    "ALLERGY_NONE",
    "ALLERGY_RECORD",
    "ALLERGY_VIEW",
    "FILTER_ACTIONS",
    "LOGIN",
    "LOGOUT",
    "MEMBER_CREATE",
    "PIN_FAILED",
    "PIN_LOCKED",
    "AuditFilter",
    "action_label",
    "record",
    "search",
]
