"""Refill and adherence: days of supply laid end to end, the refill-due day, PDC by the PQA method."""

from app.components.adherence.queries import EPOCH, therapy_groups_sql
from app.components.adherence.rules import ADHERENT_PCT, WINDOW_DAYS, Fill, Pdc, pdc, refill_due, shifted
from app.components.adherence.views import (
    ADHERENCE_VIEW,
    CHRONIC_PREFIXES,
    Patient,
    Therapy,
    adherence_record,
    member_therapies,
    non_adherent,
)

__all__ = [
    "ADHERENCE_VIEW",
    "ADHERENT_PCT",
    "CHRONIC_PREFIXES",
    "EPOCH",
    "WINDOW_DAYS",
    "Fill",
    "Patient",
    "Pdc",
    "Therapy",
    "adherence_record",
    "member_therapies",
    "non_adherent",
    "pdc",
    "refill_due",
    "shifted",
    "therapy_groups_sql",
]
