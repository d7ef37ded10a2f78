"""The SQL of merges: member_merge, the member row's merge columns, and the rows a merge moves (see `MOVABLE`).

Every statement on a moved table is built once, at import, from `MOVABLE`'s table and column names (our own,
fixed); nothing a user typed or a row holds ever names a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.db import fetch, for_update, marks


@dataclass(frozen=True)
class Movable:
    """A table whose rows belong to a member (through `column`) and follow them to the survivor of a merge.

    `unique`: columns that, together with the member column, are unique; a merged member's row that would clash
    with one of the survivor's stays where it is (the survivor already has it).
    """

    table: str
    column: str = "member"
    unique: tuple[str, ...] = ()


# The one place that lists what a merge moves. Later issues add their tables here, one line each
# (purchases, points ledger, follow-up tasks, messages, complaints …).
MOVABLE: list[Movable] = [
    Movable("allergy"),
    Movable("member_condition"),
    Movable("vital"),
    Movable("member_preference", unique=("kind", "value")),
    Movable("consent_event"),
    Movable("member_event"),
    Movable("sale"),
    Movable("medication"),
    Movable("points_entry"),
    Movable("coupon"),
]

# Personal details the survivor takes from the merged record when it has none: group → (key column, columns).
FILLABLE = {
    "phone": ("phone_index", ("phone_enc", "phone_index", "phone_masked")),
    "id_number": ("id_number_index", ("id_number_enc", "id_number_index")),
    "address": ("address_enc", ("address_enc",)),
    "birth_date": ("birth_date", ("birth_date",)),
}
# What a filled column goes back to on undo when it is not NULL.
EMPTY = {"phone_masked": ""}


def _count_sql(mov: Movable) -> str:
    return (
        "SELECT "
        + mov.column
        + " AS member, COUNT(*) AS n FROM "
        + mov.table
        + " WHERE "
        + mov.column
        + " IN ({}, {}) GROUP BY "
        + mov.column
    )


def _ids_sql(mov: Movable) -> str:
    clash = ""
    if mov.unique:
        same = " AND ".join("s." + c + " = r." + c for c in mov.unique)
        clash = " AND NOT EXISTS (SELECT 1 FROM " + mov.table + " s WHERE s." + mov.column + " = {} AND " + same + ")"
    return "SELECT r.id FROM " + mov.table + " r WHERE r." + mov.column + " = {}" + clash + " ORDER BY r.id"


_COUNT = {m.table: _count_sql(m) for m in MOVABLE}
_IDS = {m.table: _ids_sql(m) for m in MOVABLE}
_REASSIGN = {m.table: "UPDATE " + m.table + " SET " + m.column + " = {} WHERE id IN " for m in MOVABLE}
_REASSIGN_FROM = {m.table: " AND " + m.column + " = {}" for m in MOVABLE}
_FILL = {
    group: "UPDATE member SET " + ", ".join(c + " = {}" for c in columns) + " WHERE id = {}"
    for group, (_key, columns) in FILLABLE.items()
}
_UNFILL = {
    group: "UPDATE member SET "
    + ", ".join(c + (" = {}" if c in EMPTY else " = NULL") for c in columns)
    + " WHERE id = {}"
    for group, (_key, columns) in FILLABLE.items()
}

SIDE_SQL = (
    "SELECT m.id, m.member_no, m.name, m.gender, m.birth_date, m.phone_masked, m.phone_enc, m.phone_index,"
    " m.id_number_enc, m.id_number_index, m.address_enc, m.merged_into, m.household, m.household_role, m.guardian,"
    " m.allergy_status, m.allergy_status_by, m.allergy_status_at, m.created_at, st.name AS home_store"
    " FROM member m LEFT JOIN store st ON st.id = m.home_store"
)

_RECORD_SQL = (
    "SELECT mm.id, mm.at, mm.moved, mm.undone_at, s.member_no AS s_no, s.name AS s_name,"
    " s.merged_into AS s_merged_into, m.member_no AS m_no, m.name AS m_name,"
    " st.display_name AS staff, ub.display_name AS undone_by"
    " FROM member_merge mm JOIN member s ON s.id = mm.survivor JOIN member m ON m.id = mm.merged"
    " LEFT JOIN staff st ON st.id = mm.staff LEFT JOIN staff ub ON ub.id = mm.undone_by"
)


# ---------------------------------------------------------------- the two records


async def side_by_no(member_no: str) -> dict | None:
    """A member row as the merge compares and changes it (merged-away ones too)."""
    rows = await fetch(SIDE_SQL + " WHERE m.member_no = {}", member_no)
    return rows[0] if rows else None


async def lock_side(member_id: int) -> dict:
    """`side_by_no` by id, locking the row until the transaction ends."""
    rows = await fetch(SIDE_SQL + " WHERE m.id = {}" + for_update(of="m"), member_id)
    return rows[0]


async def active_allergy_classes(member_id: int) -> list[str]:
    """The allergen classes of the member's allergies in force, in the order recorded."""
    rows = await fetch(
        "SELECT allergen_class FROM allergy WHERE member = {} AND clinical_status = 'active'"
        " AND verification_status NOT IN ('refuted', 'entered-in-error') ORDER BY id",
        member_id,
    )
    return [r["allergen_class"] for r in rows]


async def counts(mov: Movable, first: int, second: int) -> dict[int, int]:
    """member id → how many rows of a movable table each of the two members has."""
    rows = await fetch(_COUNT[mov.table], first, second)
    return {r["member"]: r["n"] for r in rows}


# ---------------------------------------------------------------- merge records


async def merge_record(merge_id: int) -> dict | None:
    """One merge with both members' numbers and names and the staff's names."""
    rows = await fetch(_RECORD_SQL + " WHERE mm.id = {}", merge_id)
    return rows[0] if rows else None


async def member_exists(member_no: str) -> bool:
    """Whether a member number exists, merged or not."""
    return bool(await fetch("SELECT id FROM member WHERE member_no = {}", member_no))


async def merge_records_of(member_no: str) -> list[dict]:
    """The merges a member number took part in, newest first."""
    return await fetch(
        _RECORD_SQL + " WHERE s.member_no = {} OR m.member_no = {} ORDER BY mm.at DESC, mm.id DESC",
        member_no,
        member_no,
    )


async def active_merge(survivor_id: int, merged_id: int) -> int | None:
    """The id of the live (not undone) merge of exactly this pair."""
    rows = await fetch(
        "SELECT id FROM member_merge WHERE survivor = {} AND merged = {} AND undone_at IS NULL ORDER BY id DESC",
        survivor_id,
        merged_id,
    )
    return rows[0]["id"] if rows else None


async def merged_pair(survivor_no: str, merged_no: str) -> dict | None:
    """`s_id`, `m_id` when `merged_no` is merged into the live `survivor_no`."""
    rows = await fetch(
        "SELECT s.id AS s_id, m.id AS m_id FROM member s JOIN member m ON m.merged_into = s.id"
        " WHERE s.member_no = {} AND m.member_no = {} AND s.merged_into IS NULL",
        survivor_no,
        merged_no,
    )
    return rows[0] if rows else None


async def insert_merge(survivor_id: int, merged_id: int, now: datetime, staff_id: int | None, moved: str) -> int:
    """Record a merge (`moved`: the JSON of what moved and what to put back); returns its id."""
    rows = await fetch(
        "INSERT INTO member_merge (survivor, merged, at, staff, moved) VALUES ({}, {}, {}, {}, {}) RETURNING id",
        survivor_id,
        merged_id,
        now,
        staff_id,
        moved,
    )
    return rows[0]["id"]


async def merge_row(merge_id: int) -> dict | None:
    """`id`, `survivor`, `merged`, `moved`, `undone_at` of a merge."""
    rows = await fetch("SELECT id, survivor, merged, moved, undone_at FROM member_merge WHERE id = {}", merge_id)
    return rows[0] if rows else None


async def claim_undo(merge_id: int, now: datetime, staff_id: int | None) -> bool:
    """Mark a merge undone; False when it already was."""
    rows = await fetch(
        "UPDATE member_merge SET undone_at = {}, undone_by = {} WHERE id = {} AND undone_at IS NULL RETURNING id",
        now,
        staff_id,
        merge_id,
    )
    return bool(rows)


# ---------------------------------------------------------------- the member rows


async def claim_merged(merged_id: int, survivor_id: int, now: datetime) -> bool:
    """Mark a live member merged into the survivor; False when it already was merged."""
    rows = await fetch(
        "UPDATE member SET merged_into = {}, updated_at = {} WHERE id = {} AND merged_into IS NULL RETURNING id",
        survivor_id,
        now,
        merged_id,
    )
    return bool(rows)


async def release_merged(merged_id: int, survivor_id: int, now: datetime) -> None:
    """The merged member is live again (only while it is still merged into that survivor)."""
    await fetch(
        "UPDATE member SET merged_into = NULL, updated_at = {} WHERE id = {} AND merged_into = {}",
        now,
        merged_id,
        survivor_id,
    )


async def touch(member_id: int, now: datetime) -> None:
    """The member row changed now."""
    await fetch("UPDATE member SET updated_at = {} WHERE id = {}", now, member_id)


async def move_ids(mov: Movable, merged_id: int, survivor_id: int) -> list[int]:
    """The ids of the merged member's rows of a movable table that may move (not clashing with the survivor's)."""
    args = [merged_id, survivor_id] if mov.unique else [merged_id]
    return [r["id"] for r in await fetch(_IDS[mov.table], *args)]


async def reassign(mov: Movable, ids: list[int], to_member: int, from_member: int | None = None) -> None:
    """Point rows `ids` (one chunk) of a movable table at `to_member` (only those still at `from_member`, if given)."""
    sql = _REASSIGN[mov.table] + "(" + marks(ids) + ")"
    args: list[Any] = [to_member, *ids]
    if from_member is not None:
        sql += _REASSIGN_FROM[mov.table]
        args.append(from_member)
    await fetch(sql, *args)


async def fill(group: str, values: list, member_id: int) -> None:
    """Copy one group of `FILLABLE` personal details onto the survivor."""
    await fetch(_FILL[group], *values, member_id)


async def unfill(group: str, member_id: int) -> None:
    """Empty one group of `FILLABLE` details again."""
    columns = FILLABLE[group][1]
    await fetch(_UNFILL[group], *[EMPTY[c] for c in columns if c in EMPTY], member_id)


async def set_gender(member_id: int, gender: str) -> None:
    """The survivor's gender, taken from the merged record."""
    await fetch("UPDATE member SET gender = {} WHERE id = {}", gender, member_id)


async def unset_gender(member_id: int, gender: str) -> None:
    """Back to "not stated", unless it was edited since."""
    await fetch("UPDATE member SET gender = 'U' WHERE id = {} AND gender = {}", member_id, gender)


async def clinically_active_allergies(member_id: int) -> int:
    """How many of the member's allergies have clinical status active."""
    rows = await fetch("SELECT COUNT(*) AS n FROM allergy WHERE member = {} AND clinical_status = 'active'", member_id)
    return rows[0]["n"]


async def set_allergy_status(member_id: int, status: str, by: Any, at: Any) -> None:
    """The survivor's allergy status as the merge (or its undo) leaves it, with who and when it was answered."""
    await fetch(
        "UPDATE member SET allergy_status = {}, allergy_status_by = {}, allergy_status_at = {} WHERE id = {}",
        status,
        by,
        at,
        member_id,
    )


async def show_active_allergies(first: int, second: int, staff_id: int | None, now: datetime) -> None:
    """Whichever of the two holds active allergies shows `has_allergies`, whatever its status said."""
    await fetch(
        "UPDATE member SET allergy_status = 'has_allergies', allergy_status_by = {}, allergy_status_at = {}"
        " WHERE id IN ({}, {}) AND allergy_status <> 'has_allergies'"
        " AND EXISTS (SELECT 1 FROM allergy a WHERE a.member = member.id AND a.clinical_status = 'active')",
        staff_id,
        now,
        first,
        second,
    )


# ---------------------------------------------------------------- household places


async def wards_of(member_id: int) -> list[int]:
    """The ids of the members this one is guardian of."""
    return [r["id"] for r in await fetch("SELECT id FROM member WHERE guardian = {}", member_id)]


async def households_with_contact(member_id: int) -> list[int]:
    """The ids of the households this member is the contact of."""
    return [r["id"] for r in await fetch("SELECT id FROM household WHERE contact = {}", member_id)]


async def move_guardian(ids: list[int], to_member: int, from_member: int | None = None) -> None:
    """Members `ids` get `to_member` as guardian (only those still with `from_member`, when given)."""
    if from_member is None:
        await fetch("UPDATE member SET guardian = {} WHERE id IN (" + marks(ids) + ")", to_member, *ids)
    else:
        await fetch(
            "UPDATE member SET guardian = {} WHERE guardian = {} AND id IN (" + marks(ids) + ")",
            to_member,
            from_member,
            *ids,
        )


async def move_contact(ids: list[int], to_member: int, from_member: int | None = None) -> None:
    """Households `ids` get `to_member` as contact (only those still with `from_member`, when given)."""
    if from_member is None:
        await fetch("UPDATE household SET contact = {} WHERE id IN (" + marks(ids) + ")", to_member, *ids)
    else:
        await fetch(
            "UPDATE household SET contact = {} WHERE contact = {} AND id IN (" + marks(ids) + ")",
            to_member,
            from_member,
            *ids,
        )


async def set_household_place(member_id: int, household: int | None, role: str, guardian: int | None) -> None:
    """A member's household, role and guardian."""
    await fetch(
        "UPDATE member SET household = {}, household_role = {}, guardian = {} WHERE id = {}",
        household,
        role,
        guardian,
        member_id,
    )


async def make_contact(member_id: int) -> None:
    """The survivor takes the merged record's role of household contact."""
    await fetch("UPDATE member SET household_role = 'contact' WHERE id = {}", member_id)


async def leave_household(member_id: int) -> None:
    """The merged record leaves its household."""
    await fetch("UPDATE member SET household = NULL, household_role = '', guardian = NULL WHERE id = {}", member_id)
