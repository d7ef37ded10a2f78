"""The SQL of the allergy table and of the member's allergy-status columns: the only module that writes them.

`member.allergy_status` (with `_by`, `_at`) is kept here, next to the allergies it summarises: recording an
allergy, "no known allergies", or a change that leaves none active are the only writers.
"""

from __future__ import annotations

from datetime import datetime

from app.db import fetch

# What an allergy change sets, each a complete assignment (see `set_clinical_status`).
_CHANGE_SQL = {
    "reactivate": "UPDATE allergy SET clinical_status = 'active' WHERE id = {}",
    "resolve": "UPDATE allergy SET clinical_status = 'resolved' WHERE id = {}",
    "refute": "UPDATE allergy SET clinical_status = 'inactive', verification_status = 'refuted' WHERE id = {}",
    "entered_in_error": (
        "UPDATE allergy SET clinical_status = 'inactive', verification_status = 'entered-in-error' WHERE id = {}"
    ),
}


async def insert_allergy(member_id: int, values: dict, staff_id: int | None, now: datetime) -> None:
    """A new allergy row; `values`: allergen_class, substance, category, criticality, reaction, severity,
    verification_status, clinical_status, note."""
    await fetch(
        "INSERT INTO allergy (member, allergen_class, substance, category, allergy_type, criticality, reaction,"
        " severity, verification_status, clinical_status, note, recorded_by, recorded_at)"
        " VALUES ({}, {}, {}, {}, 'allergy', {}, {}, {}, {}, {}, {}, {}, {})",
        member_id,
        values["allergen_class"],
        values["substance"],
        values["category"],
        values["criticality"],
        values["reaction"],
        values["severity"],
        values["verification_status"],
        values["clinical_status"],
        values["note"],
        staff_id,
        now,
    )


async def clinically_active_count(member_id: int) -> int:
    """How many of the member's allergies have clinical status active."""
    rows = await fetch("SELECT COUNT(*) AS n FROM allergy WHERE member = {} AND clinical_status = 'active'", member_id)
    return rows[0]["n"]


async def active_count(member_id: int) -> int:
    """How many of the member's allergies are in force: active and neither refuted nor entered in error."""
    rows = await fetch(
        "SELECT COUNT(*) AS n FROM allergy WHERE member = {} AND clinical_status = 'active'"
        " AND verification_status NOT IN ('refuted', 'entered-in-error')",
        member_id,
    )
    return rows[0]["n"]


async def allergies_of(member_id: int) -> list[dict]:
    """Every allergy of the member in the order recorded, with the recording staff's name."""
    return await fetch(
        "SELECT a.id, a.allergen_class, a.substance, a.criticality, a.reaction, a.verification_status,"
        " a.clinical_status, a.recorded_at, s.display_name AS recorded_by FROM allergy a"
        " LEFT JOIN staff s ON s.id = a.recorded_by WHERE a.member = {} ORDER BY a.id",
        member_id,
    )


async def set_clinical_status(allergy_id: int, change: str) -> None:
    """Apply one of `_CHANGE_SQL`'s changes to an allergy."""
    await fetch(_CHANGE_SQL[change], allergy_id)


async def set_member_status(member_id: int, status: str, staff_id: int | None, now: datetime) -> None:
    """The member's allergy status, who set it and when."""
    await fetch(
        "UPDATE member SET allergy_status = {}, allergy_status_by = {}, allergy_status_at = {}, updated_at = {}"
        " WHERE id = {}",
        status,
        staff_id,
        now,
        now,
        member_id,
    )


async def member_status(member_id: int) -> dict:
    """`allergy_status`, `allergy_status_at` and `status_by` (the staff's name) of a member."""
    rows = await fetch(
        "SELECT m.allergy_status, m.allergy_status_at, s.display_name AS status_by FROM member m"
        " LEFT JOIN staff s ON s.id = m.allergy_status_by WHERE m.id = {}",
        member_id,
    )
    return rows[0]
