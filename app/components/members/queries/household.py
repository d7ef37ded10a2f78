"""The SQL of households: the household table and the member row's household columns (household, role, guardian)."""

from __future__ import annotations

from datetime import datetime

from app.db import fetch

_MEMBER_SQL = "SELECT id, member_no, name, birth_date, household, household_role, guardian FROM member"


async def live_member_by_no(member_no: str) -> dict | None:
    """A live member's id, number, name, birth date and household place."""
    rows = await fetch(_MEMBER_SQL + " WHERE member_no = {} AND merged_into IS NULL", member_no)
    return rows[0] if rows else None


async def member_by_id(member_id: int) -> dict | None:
    """A member's id, number, name, birth date and household place."""
    rows = await fetch(_MEMBER_SQL + " WHERE id = {}", member_id)
    return rows[0] if rows else None


async def contact_of(household_id: int) -> dict | None:
    """The household's contact, like `member_by_id`."""
    rows = await fetch(_MEMBER_SQL + " WHERE id = (SELECT contact FROM household WHERE id = {})", household_id)
    return rows[0] if rows else None


async def household(household_id: int) -> dict | None:
    """`id`, `name`, `contact` of a household."""
    rows = await fetch("SELECT id, name, contact FROM household WHERE id = {}", household_id)
    return rows[0] if rows else None


async def people(household_id: int) -> list[dict]:
    """The live members of a household with their guardian's number and name, in id order."""
    return await fetch(
        "SELECT m.id, m.member_no, m.name, m.birth_date, m.household_role, m.guardian,"
        " g.member_no AS g_no, g.name AS g_name FROM member m LEFT JOIN member g ON g.id = m.guardian"
        " WHERE m.household = {} AND m.merged_into IS NULL ORDER BY m.id",
        household_id,
    )


async def insert_household(name: str, contact_id: int, now: datetime) -> int:
    """A new household; returns its id."""
    rows = await fetch(
        "INSERT INTO household (name, contact, created_at) VALUES ({}, {}, {}) RETURNING id", name, contact_id, now
    )
    return rows[0]["id"]


async def claim(member_id: int, household_id: int, role: str, guardian_id: int | None) -> bool:
    """Put a member without a household into one; False when they already had one."""
    rows = await fetch(
        "UPDATE member SET household = {}, household_role = {}, guardian = {} WHERE id = {} AND household IS NULL"
        " RETURNING id",
        household_id,
        role,
        guardian_id,
        member_id,
    )
    return bool(rows)


async def set_contact(household_id: int, member_id: int, contact_role: str, adult_role: str) -> None:
    """Make a member the household's contact; the old contact becomes an adult."""
    await fetch(
        "UPDATE member SET household_role = {} WHERE household = {} AND household_role = {}",
        adult_role,
        household_id,
        contact_role,
    )
    await fetch("UPDATE member SET household_role = {} WHERE id = {}", contact_role, member_id)
    await fetch("UPDATE household SET contact = {} WHERE id = {}", member_id, household_id)


async def set_guardian(child_id: int, guardian_id: int) -> None:
    """A child's guardian."""
    await fetch("UPDATE member SET guardian = {} WHERE id = {}", guardian_id, child_id)


async def ward_names(guardian_id: int, household_id: int) -> list[str]:
    """The names of the live children this member is guardian of in the household."""
    rows = await fetch(
        "SELECT name FROM member WHERE guardian = {} AND household = {} AND merged_into IS NULL ORDER BY id",
        guardian_id,
        household_id,
    )
    return [r["name"] for r in rows]


async def others_count(household_id: int, member_id: int) -> int:
    """How many other live members the household has."""
    rows = await fetch(
        "SELECT COUNT(*) AS n FROM member WHERE household = {} AND id <> {} AND merged_into IS NULL",
        household_id,
        member_id,
    )
    return rows[0]["n"]


async def leave(member_id: int) -> None:
    """Take a member out of their household."""
    await fetch("UPDATE member SET household = NULL, household_role = '', guardian = NULL WHERE id = {}", member_id)


async def delete_household(household_id: int) -> None:
    """Remove an empty household."""
    await fetch("UPDATE household SET contact = NULL WHERE id = {}", household_id)
    await fetch("DELETE FROM household WHERE id = {}", household_id)


async def kiosk_visible(viewer_id: int, child_role: str) -> list[int]:
    """The viewer and the live children of their household they are guardian of, in id order."""
    rows = await fetch(
        "SELECT c.id FROM member v JOIN member c ON c.id = v.id OR (c.guardian = v.id AND c.household_role = {}"
        " AND c.household = v.household AND c.merged_into IS NULL)"
        " WHERE v.id = {} AND v.merged_into IS NULL ORDER BY c.id",
        child_role,
        viewer_id,
    )
    return [r["id"] for r in rows]
