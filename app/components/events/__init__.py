"""Domain events: recorded with the change they report (the outbox), handled once per registered handler."""

from app.components.events.dispatch import (
    CONDITION_ADDED,
    CONSENT_CHANGED,
    KINDS,
    MAX_ATTEMPTS,
    MEMBER_MERGED,
    MEMBER_REGISTERED,
    SALE_COMPLETED,
    SALE_RETURNED,
    VITAL_OUT_OF_RANGE,
    Event,
    Handler,
    dispatch,
    failed_events,
    kind_label,
    record,
    retry_event,
)

__all__ = [
    "CONDITION_ADDED",
    "CONSENT_CHANGED",
    "KINDS",
    "MAX_ATTEMPTS",
    "MEMBER_MERGED",
    "MEMBER_REGISTERED",
    "SALE_COMPLETED",
    "SALE_RETURNED",
    "VITAL_OUT_OF_RANGE",
    "Event",
    "Handler",
    "dispatch",
    "failed_events",
    "kind_label",
    "record",
    "retry_event",
]
