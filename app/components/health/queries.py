"""The SQL of the health archive's tables (member_condition, vital, member_preference): the only module writing it.

`member_by_no` reads the members domain's table (health sits below members, so it cannot call it): the row id,
the consent cache and the allergy status of a live member number.
"""

from __future__ import annotations

from datetime import datetime

from app.db import fetch, marks

CONDITION_SQL = (
    "SELECT c.id, c.code, c.source, c.status, c.onset, c.note, c.evidence, c.recorded_at, c.confirmed_at,"
    " rb.display_name AS recorded_by, cb.display_name AS confirmed_by FROM member_condition c"
    " LEFT JOIN staff rb ON rb.id = c.recorded_by LEFT JOIN staff cb ON cb.id = c.confirmed_by"
)

VITAL_SQL = (
    "SELECT v.id, v.kind, v.systolic, v.diastolic, v.pulse, v.glucose, v.glucose_context, v.weight_kg, v.height_cm,"
    " v.flag, v.measured_at, v.source, s.display_name AS recorded_by"
    " FROM vital v LEFT JOIN staff s ON s.id = v.recorded_by"
)

# The latest reading per kind and glucose context.
_LATEST_SQL = (
    "SELECT * FROM ("
    + VITAL_SQL.replace(
        "SELECT ",
        "SELECT ROW_NUMBER() OVER (PARTITION BY v.kind, v.glucose_context ORDER BY v.measured_at DESC, v.id DESC)"
        " AS rn, ",
        1,
    )
    + " WHERE v.member = {}) t WHERE t.rn = 1"
)

# A reading's values, compared when the same reading at the same time arrives twice.
VALUE_COLUMNS = ("systolic", "diastolic", "pulse", "glucose", "glucose_context", "weight_kg", "height_cm")


async def member_by_no(member_no: str) -> dict | None:
    """`id`, `member_no`, `consent_health`, `allergy_status` of a live member number."""
    rows = await fetch(
        "SELECT id, member_no, consent_health, allergy_status FROM member WHERE member_no = {} AND merged_into IS NULL",
        member_no,
    )
    return rows[0] if rows else None


# ---------------------------------------------------------------- conditions


async def conditions_of(member_id: int, include_resolved: bool) -> list[dict]:
    """The member's conditions in the order recorded (only the active ones unless `include_resolved`)."""
    if include_resolved:
        return await fetch(CONDITION_SQL + " WHERE c.member = {} ORDER BY c.id", member_id)
    return await fetch(CONDITION_SQL + " WHERE c.member = {} AND c.status = 'active' ORDER BY c.id", member_id)


async def condition(member_id: int, condition_id: int) -> dict | None:
    """One condition of the member."""
    rows = await fetch(CONDITION_SQL + " WHERE c.member = {} AND c.id = {}", member_id, condition_id)
    return rows[0] if rows else None


async def active_condition(member_id: int, code: str) -> dict | None:
    """`id` and `source` of the member's (first) active condition with this code."""
    rows = await fetch(
        "SELECT id, source FROM member_condition WHERE member = {} AND code = {} AND status = 'active'"
        " ORDER BY id LIMIT 1",
        member_id,
        code,
    )
    return rows[0] if rows else None


async def upgrade_condition(
    condition_id: int, source: str, confirmed_by: int | None, confirmed_at: datetime | None, onset: object, note: str
) -> None:
    """A stronger source for an active condition; onset and note fill in only what was empty."""
    await fetch(
        "UPDATE member_condition SET source = {}, confirmed_by = {}, confirmed_at = {},"
        " onset = COALESCE(onset, {}), note = CASE WHEN note = '' THEN {} ELSE note END WHERE id = {}",
        source,
        confirmed_by,
        confirmed_at,
        onset,
        note,
        condition_id,
    )


async def insert_condition(
    member_id: int,
    values: dict,
    recorded_by: int | None,
    now: datetime,
    confirmed_by: int | None,
    confirmed_at: datetime | None,
) -> int:
    """A new active condition (`values`: code, source, onset, note); returns its id."""
    rows = await fetch(
        "INSERT INTO member_condition (member, code, source, status, onset, note, evidence, recorded_by,"
        " recorded_at, confirmed_by, confirmed_at) VALUES ({}, {}, {}, 'active', {}, {}, '', {}, {}, {}, {})"
        " RETURNING id",
        member_id,
        values["code"],
        values["source"],
        values["onset"],
        values["note"],
        recorded_by,
        now,
        confirmed_by,
        confirmed_at,
    )
    return rows[0]["id"]


async def confirm_condition(condition_id: int, staff_id: int | None, now: datetime) -> None:
    """A pharmacist confirmed the condition."""
    await fetch(
        "UPDATE member_condition SET source = 'confirmed', confirmed_by = {}, confirmed_at = {} WHERE id = {}",
        staff_id,
        now,
        condition_id,
    )


async def resolve_condition(condition_id: int) -> None:
    """The condition is resolved (or its inference dismissed)."""
    await fetch("UPDATE member_condition SET status = 'resolved' WHERE id = {}", condition_id)


async def condition_states(member_id: int) -> list[dict]:
    """`code`, `status`, `source` of every condition of the member."""
    return await fetch("SELECT code, status, source FROM member_condition WHERE member = {}", member_id)


async def insert_inferred(member_id: int, code: str, evidence: str, staff_id: int | None, now: datetime) -> int:
    """A condition inferred from a purchase, `evidence` the ATC code; returns its id."""
    rows = await fetch(
        "INSERT INTO member_condition (member, code, source, status, note, evidence, recorded_by, recorded_at)"
        " VALUES ({}, {}, 'inferred', 'active', '', {}, {}, {}) RETURNING id",
        member_id,
        code,
        evidence,
        staff_id,
        now,
    )
    return rows[0]["id"]


# ---------------------------------------------------------------- vitals


async def readings_at(member_id: int, kind: str, measured_at: datetime) -> list[dict]:
    """`id` and the values of the member's readings of `kind` taken at exactly `measured_at`."""
    return await fetch(
        "SELECT id, systolic, diastolic, pulse, glucose, glucose_context, weight_kg, height_cm FROM vital"
        " WHERE member = {} AND kind = {} AND measured_at = {}",
        member_id,
        kind,
        measured_at,
    )


async def insert_vital(member_id: int, reading: dict, source: str, staff_id: int | None) -> int:
    """One reading (`reading`: kind, the value columns, flag, measured_at); returns its id."""
    rows = await fetch(
        "INSERT INTO vital (member, kind, systolic, diastolic, pulse, glucose, glucose_context, weight_kg,"
        " height_cm, flag, measured_at, source, recorded_by)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
        member_id,
        reading["kind"],
        reading["systolic"],
        reading["diastolic"],
        reading["pulse"],
        reading["glucose"],
        reading["glucose_context"],
        reading["weight_kg"],
        reading["height_cm"],
        reading["flag"],
        reading["measured_at"],
        source,
        staff_id,
    )
    return rows[0]["id"]


async def vitals_by_ids(ids: list[int]) -> list[dict]:
    """These readings, in id order."""
    return await fetch(VITAL_SQL + " WHERE v.id IN (" + marks(ids) + ") ORDER BY v.id", *ids)


async def vitals_of(member_id: int, since: datetime | None) -> list[dict]:
    """The member's readings newest first (since a time, or all)."""
    if since is None:
        return await fetch(VITAL_SQL + " WHERE v.member = {} ORDER BY v.measured_at DESC, v.id DESC", member_id)
    return await fetch(
        VITAL_SQL + " WHERE v.member = {} AND v.measured_at >= {} ORDER BY v.measured_at DESC, v.id DESC",
        member_id,
        since,
    )


async def latest_vitals(member_id: int) -> list[dict]:
    """The member's latest reading per kind and glucose context."""
    return await fetch(_LATEST_SQL, member_id)


# ---------------------------------------------------------------- preferences


async def preferences_of(member_id: int) -> list[dict]:
    """`id`, `kind`, `value` of the member's preference tags in the order added."""
    return await fetch("SELECT id, kind, value FROM member_preference WHERE member = {} ORDER BY id", member_id)


async def insert_preference(member_id: int, kind: str, value: str, now: datetime) -> int | None:
    """Tag the member; the new tag's id, or None when it was already there."""
    rows = await fetch(
        "INSERT INTO member_preference (member, kind, value, created_at) VALUES ({}, {}, {}, {})"
        " ON CONFLICT (member, kind, value) DO NOTHING RETURNING id",
        member_id,
        kind,
        value,
        now,
    )
    return rows[0]["id"] if rows else None


async def preference_id(member_id: int, kind: str, value: str) -> int:
    """The id of one of the member's tags."""
    rows = await fetch(
        "SELECT id FROM member_preference WHERE member = {} AND kind = {} AND value = {}", member_id, kind, value
    )
    return rows[0]["id"]


async def delete_preference(member_id: int, kind: str, value: str) -> int | None:
    """Remove a tag; its id, or None when there was none."""
    rows = await fetch(
        "DELETE FROM member_preference WHERE member = {} AND kind = {} AND value = {} RETURNING id",
        member_id,
        kind,
        value,
    )
    return rows[0]["id"] if rows else None
