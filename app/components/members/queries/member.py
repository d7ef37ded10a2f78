"""The SQL of the member row (lookup, registration, details, numbers, the list), member_change, number_sequence.

The counter lookup (`MEMBER_SQL` and the three `rows_by_*` reads) is a benchmarked hot path: its SQL stays as it is.
Two column groups of `member` have their own homes: the allergy status (allergies' queries) and the consent
cache (consents' queries). Reads of `store` and `staff` here only fetch a name or an id to show or check.
"""

from __future__ import annotations

from datetime import date, datetime

from app.db import fetch

# The counter's member panel: member ⋈ its active allergies, with what registration still lacks.
MEMBER_SQL = (
    "SELECT m.id, m.merged_into, m.member_no, m.name, m.gender, m.birth_date, m.phone_masked, m.allergy_status,"
    " m.allergy_status_at, m.verified_at, m.created_at, st.name AS home_store, sb.display_name AS status_by,"
    " m.member_class, m.organisation, m.responsible_pharmacist, m.consent_health,"
    " (SELECT COUNT(*) FROM consent_event c WHERE c.member = m.id AND c.purpose = 'health_data') AS health_asked,"
    " (SELECT COUNT(DISTINCT c.purpose) FROM consent_event c WHERE c.member = m.id"
    " AND c.purpose <> 'health_data') AS others_asked,"
    " a.id AS a_id, a.allergen_class, a.substance, a.criticality, a.reaction, a.verification_status,"
    " a.recorded_at, rb.display_name AS a_by"
    " FROM member m"
    " LEFT JOIN store st ON st.id = m.home_store"
    " LEFT JOIN staff sb ON sb.id = m.allergy_status_by"
    " LEFT JOIN allergy a ON a.member = m.id AND a.clinical_status = 'active'"
    " AND a.verification_status NOT IN ('refuted', 'entered-in-error')"
    " LEFT JOIN staff rb ON rb.id = a.recorded_by"
)

DETAILS_SQL = (
    "SELECT m.id, m.member_no, m.name, m.gender, m.birth_date, m.member_class, m.organisation,"
    " m.responsible_pharmacist, rp.display_name AS pharmacist_name, m.phone_enc, m.phone_masked, m.address_enc,"
    " m.id_number_enc, m.home_store, st.name AS store_name, m.verified_at, vb.display_name AS verified_by_name,"
    " m.created_at FROM member m"
    " LEFT JOIN staff rp ON rp.id = m.responsible_pharmacist"
    " LEFT JOIN staff vb ON vb.id = m.verified_by"
    " LEFT JOIN store st ON st.id = m.home_store"
    " WHERE m.member_no = {}"
)

# `member` columns a profile edit may set, each as a complete assignment (see `update_member_fields`).
_ASSIGNMENTS = {
    column: column + " = {}"
    for column in (
        "name",
        "gender",
        "birth_date",
        "phone_enc",
        "phone_index",
        "phone_masked",
        "address_enc",
        "id_number_enc",
        "id_number_index",
        "member_class",
        "organisation",
        "responsible_pharmacist",
        "updated_at",
    )
}


# ---------------------------------------------------------------- the counter lookup (hot)


async def rows_by_member_no(member_no: str) -> list[dict]:
    """Panel rows of the member with this number (merged-away ones too), one per active allergy."""
    return await fetch(MEMBER_SQL + " WHERE m.member_no = {} ORDER BY m.id, a.id", member_no)


async def rows_by_id(member_id: int) -> list[dict]:
    """Panel rows of one member by row id."""
    return await fetch(MEMBER_SQL + " WHERE m.id = {} ORDER BY m.id, a.id", member_id)


async def rows_by_phone_index(index: str) -> list[dict]:
    """Panel rows of the live members with this phone's blind index."""
    return await fetch(MEMBER_SQL + " WHERE m.phone_index = {} AND m.merged_into IS NULL ORDER BY m.id, a.id", index)


async def member_rows(member_no: str) -> list[dict]:
    """Panel rows of one member by number, for a read by number (not a scan)."""
    return await fetch(MEMBER_SQL + " WHERE m.member_no = {} ORDER BY a.id", member_no)


# ---------------------------------------------------------------- numbers


async def live_member_id(member_no: str) -> int | None:
    """The row id of a live (not merged) member number."""
    rows = await fetch("SELECT id FROM member WHERE member_no = {} AND merged_into IS NULL", member_no)
    return rows[0]["id"] if rows else None


async def merge_link(member_no: str) -> dict | None:
    """`id` and `merged_into` of a member number, merged or not."""
    rows = await fetch("SELECT id, merged_into FROM member WHERE member_no = {}", member_no)
    return rows[0] if rows else None


async def merge_link_by_id(member_id: int) -> dict | None:
    """`id` and `merged_into` of a member row."""
    rows = await fetch("SELECT id, merged_into FROM member WHERE id = {}", member_id)
    return rows[0] if rows else None


async def member_no_of(member_id: int) -> str | None:
    """The number of a member row."""
    rows = await fetch("SELECT member_no FROM member WHERE id = {}", member_id)
    return rows[0]["member_no"] if rows else None


async def reserve_serials(name: str, count: int) -> int:
    """Advance a named number sequence by `count`; return its new value."""
    rows = await fetch("UPDATE number_sequence SET value = value + {} WHERE name = {} RETURNING value", count, name)
    return rows[0]["value"]


# ---------------------------------------------------------------- registration


async def store_id_by_code(code: str) -> int | None:
    """A store's id by its code (the home store named at registration)."""
    rows = await fetch("SELECT id FROM store WHERE code = {}", code)
    return rows[0]["id"] if rows else None


async def store_pharmacists(store_id: int) -> dict[int, str]:
    """The active pharmacists of a store, id → display name, ordered by name."""
    rows = await fetch(
        "SELECT id, display_name FROM staff WHERE store = {} AND role = 'pharmacist' AND active = {}"
        " ORDER BY display_name, id",
        store_id,
        True,
    )
    return {r["id"]: r["display_name"] for r in rows}


async def insert_member(values: dict, store_id: int | None, now: datetime, staff_id: int | None) -> int:
    """A new member row (allergy status `unknown`, verified now by the registering staff); returns its id.

    `values`: member_no, name, gender, birth_date, phone_enc, phone_index, phone_masked, id_number_enc,
    id_number_index, address_enc, member_class, organisation, responsible_pharmacist.
    """
    rows = await fetch(
        "INSERT INTO member (member_no, name, gender, birth_date, phone_enc, phone_index, phone_masked,"
        " id_number_enc, id_number_index, address_enc, member_class, organisation, responsible_pharmacist,"
        " home_store, allergy_status, created_at, updated_at, verified_at, verified_by)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 'unknown', {}, {}, {}, {}) RETURNING id",
        values["member_no"],
        values["name"],
        values["gender"],
        values["birth_date"],
        values["phone_enc"],
        values["phone_index"],
        values["phone_masked"],
        values["id_number_enc"],
        values["id_number_index"],
        values["address_enc"],
        values["member_class"],
        values["organisation"],
        values["responsible_pharmacist"],
        store_id,
        now,
        now,
        now,
        staff_id,
    )
    return rows[0]["id"]


async def duplicate_candidates(
    phone_key: str | None,
    id_key: str | None,
    name: str,
    birth_date: date | None,
    exclude_member_id: int | None,
    limit: int,
) -> list[dict]:
    """Live members sharing the phone's or the ID's blind index, or the name and birth date (at most `limit`)."""
    clauses, args = [], []
    if phone_key:
        clauses.append("m.phone_index = {}")
        args.append(phone_key)
    if id_key:
        clauses.append("m.id_number_index = {}")
        args.append(id_key)
    if name and birth_date:
        clauses.append("(m.name = {} AND m.birth_date = {})")
        args.extend([name, birth_date])
    if not clauses:
        return []
    where = "m.merged_into IS NULL AND (" + " OR ".join(clauses) + ")"
    if exclude_member_id:
        where += " AND m.id <> {}"
        args.append(exclude_member_id)
    return await fetch(
        "SELECT m.id, m.member_no, m.name, m.birth_date, m.phone_masked, m.phone_index, m.id_number_index,"
        " st.name AS home_store FROM member m LEFT JOIN store st ON st.id = m.home_store WHERE "
        + where
        + " ORDER BY m.id LIMIT {}",
        *args,
        limit,
    )


# ---------------------------------------------------------------- details, edits, verification


async def details_row(member_no: str) -> dict | None:
    """The member's profile fields (identifiers still encrypted) with the names of their store and staff."""
    rows = await fetch(DETAILS_SQL, member_no)
    return rows[0] if rows else None


async def phone_of(member_no: str) -> dict | None:
    """`id` and `phone_enc` of a member number."""
    rows = await fetch("SELECT id, phone_enc FROM member WHERE member_no = {}", member_no)
    return rows[0] if rows else None


async def update_member_fields(member_id: int, assignments: dict[str, object]) -> None:
    """Set some of the editable columns (keys of `_ASSIGNMENTS`) of one member."""
    sets = ", ".join(_ASSIGNMENTS[column] for column in assignments)
    await fetch("UPDATE member SET " + sets + " WHERE id = {}", *assignments.values(), member_id)


async def insert_change(member_id: int, at: datetime, staff_id: int | None, field: str, old: str, new: str) -> None:
    """One line of the edit history."""
    await fetch(
        "INSERT INTO member_change (member, at, staff, field, old_value, new_value) VALUES ({}, {}, {}, {}, {}, {})",
        member_id,
        at,
        staff_id,
        field,
        old,
        new,
    )


async def changes(member_id: int, limit: int) -> list[dict]:
    """The member's edit history, newest first, with the editing staff's name."""
    return await fetch(
        "SELECT c.at, c.field, c.old_value, c.new_value, s.display_name AS staff FROM member_change c"
        " LEFT JOIN staff s ON s.id = c.staff WHERE c.member = {} ORDER BY c.at DESC, c.id DESC LIMIT {}",
        member_id,
        int(limit),
    )


async def staff_name(staff_id: int) -> str | None:
    """A staff member's display name."""
    rows = await fetch("SELECT display_name FROM staff WHERE id = {}", staff_id)
    return rows[0]["display_name"] if rows else None


async def mark_verified(member_id: int, staff_id: int | None, now: datetime) -> None:
    """The member's details were confirmed now by `staff_id`: no longer due."""
    await fetch(
        "UPDATE member SET verified_at = {}, verified_by = {}, verification_due = {}, updated_at = {} WHERE id = {}",
        now,
        staff_id,
        False,
        now,
        member_id,
    )


async def flag_verification_due(cutoff: datetime) -> int:
    """Set-based: `verification_due` is whether a member was last confirmed before `cutoff`; how many are due."""
    await fetch(
        "UPDATE member SET verification_due = (COALESCE(verified_at, created_at) < {})"
        " WHERE verification_due <> (COALESCE(verified_at, created_at) < {})",
        cutoff,
        cutoff,
    )
    rows = await fetch("SELECT COUNT(*) AS n FROM member WHERE verification_due = {}", True)
    return rows[0]["n"]


async def allergy_status_counts(store_id: int | None) -> list[dict]:
    """`allergy_status`, `n` of the live members of one store or (None) the whole chain."""
    if store_id:
        return await fetch(
            "SELECT allergy_status, COUNT(*) AS n FROM member WHERE merged_into IS NULL AND home_store = {}"
            " GROUP BY allergy_status",
            store_id,
        )
    return await fetch(
        "SELECT allergy_status, COUNT(*) AS n FROM member WHERE merged_into IS NULL GROUP BY allergy_status"
    )


# ---------------------------------------------------------------- the card and the list


async def card_row(member_no: str) -> dict | None:
    """What the printed card shows: number, name, class and home store's name."""
    rows = await fetch(
        "SELECT m.member_no, m.name, m.member_class, st.name AS store FROM member m"
        " LEFT JOIN store st ON st.id = m.home_store WHERE m.member_no = {}",
        member_no,
    )
    return rows[0] if rows else None


# `search`'s orderings, each a complete ORDER BY.
LIST_ORDERS = {
    "newest": " ORDER BY m.id DESC",
    "member_no": " ORDER BY m.member_no",
    "name": " ORDER BY m.name, m.id",
}


async def list_page(clauses: list[str], args: list, order: str, limit: int, offset: int) -> list[dict]:
    """One page of the member list; `clauses` are constant conditions ANDed, `order` a key of `LIST_ORDERS`."""
    return await fetch(
        "SELECT m.member_no, m.name, m.gender, m.birth_date, m.phone_masked, m.created_at, m.verification_due,"
        " st.name AS home_store FROM member m LEFT JOIN store st ON st.id = m.home_store"
        " WHERE " + " AND ".join(clauses) + LIST_ORDERS[order] + " LIMIT {} OFFSET {}",
        *args,
        int(limit),
        int(offset),
    )
