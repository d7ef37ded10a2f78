"""Merging two records of one person into the survivor, recorded with what moved so it can be undone."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from app.components import audit, consents, loyalty, timeline
from app.components.allergies import class_label
from app.components.core.actor import StaffUser
from app.components.core.clock import age_on, store_today
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import Role
from app.components.members.numbers import resolve_member_no
from app.db import fetch, is_sqlite, marks, transaction
from app.i18n import N_, _

# Who may merge and undo: a pharmacist's judgement that two records are one person.
MERGE_ROLES = frozenset({Role.PHARMACIST, Role.STORE_MANAGER})
MEMBER_MERGE = "member.merge"
MEMBER_MERGE_UNDO = "member.merge_undo"
MEMBER_MERGE_PREVIEW = "member.merge_preview"
ID_CHUNK = 500


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


def movable_label(table: str) -> str:
    """What a moved table holds, in the current language."""
    return {
        "allergy": _("allergy records"),
        "member_condition": _("condition records"),
        "vital": _("vital readings"),
        "member_preference": _("preference tags"),
        "consent_event": _("consent records"),
        "member_event": _("timeline events"),
        "sale": _("purchases"),
        "medication": _("medication history entries"),
        "points_entry": _("points ledger entries"),
        "coupon": _("coupons"),
    }.get(table, table)


# Personal details the survivor takes from the merged record when it has none: group → (key column, columns).
FILLABLE = {
    "phone": ("phone_index", ("phone_enc", "phone_index", "phone_masked")),
    "id_number": ("id_number_index", ("id_number_enc", "id_number_index")),
    "address": ("address_enc", ("address_enc",)),
    "birth_date": ("birth_date", ("birth_date",)),
}
_EMPTY = {"phone_masked": ""}

_SIDE_SQL = (
    "SELECT m.id, m.member_no, m.name, m.gender, m.birth_date, m.phone_masked, m.phone_enc, m.phone_index,"
    " m.id_number_enc, m.id_number_index, m.address_enc, m.merged_into, m.household, m.household_role, m.guardian,"
    " m.allergy_status, m.allergy_status_by, m.allergy_status_at, m.created_at, st.name AS home_store"
    " FROM member m LEFT JOIN store st ON st.id = m.home_store"
)


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


# ---------------------------------------------------------------- following merges


# ---------------------------------------------------------------- preview


@dataclass
class MergeSide:
    """One of the two records, as the side-by-side comparison shows it (phone masked)."""

    id: int
    member_no: str
    name: str
    gender: str
    birth_date: date | None
    age: int | None
    phone_masked: str
    has_id_number: bool
    has_address: bool
    home_store: str | None
    created_at: datetime | None
    allergy_status: str
    allergies: list[str] = field(default_factory=list)
    household_role: str = ""
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class MergePreview:
    """The survivor and the record to merge into it, side by side."""

    survivor: MergeSide
    merged: MergeSide
    labels: dict[str, str]
    differences: list[str] = field(default_factory=list)


def _differences(a: MergeSide, b: MergeSide) -> list[str]:
    """Details both records hold but disagree on, in the current language: a reason to look twice."""
    out = []
    if a.name != b.name:
        out.append(_("name"))
    if "U" not in (a.gender, b.gender) and a.gender != b.gender:
        out.append(_("gender"))
    if a.birth_date and b.birth_date and a.birth_date != b.birth_date:
        out.append(_("birth date"))
    if a.phone_masked and b.phone_masked and a.phone_masked != b.phone_masked:
        out.append(_("mobile phone"))
    return out


async def _side(row: dict) -> MergeSide:
    birth = _as_date(row["birth_date"])
    allergies = await fetch(
        "SELECT allergen_class FROM allergy WHERE member = {} AND clinical_status = 'active'"
        " AND verification_status NOT IN ('refuted', 'entered-in-error') ORDER BY id",
        row["id"],
    )
    return MergeSide(
        id=row["id"],
        member_no=row["member_no"],
        name=row["name"],
        gender=row["gender"],
        birth_date=birth,
        age=age_on(birth, store_today()),
        phone_masked=row["phone_masked"] or "",
        has_id_number=bool(row["id_number_enc"]),
        has_address=bool(row["address_enc"]),
        home_store=row["home_store"],
        created_at=_as_datetime(row["created_at"]),
        allergy_status=row["allergy_status"],
        allergies=[class_label(a["allergen_class"]) for a in allergies],
        household_role=row["household_role"] or "",
    )


async def _pair(survivor_no: str, other_no: str) -> tuple[dict, dict]:
    """Both live records, or field errors on `other_no` saying what is wrong."""
    other_no = (other_no or "").strip()
    if not other_no:
        raise ValidationFailed({"other_no": _("Enter the member number of the other record.")})
    rows = await fetch(_SIDE_SQL + " WHERE m.member_no = {}", survivor_no)
    if not rows or rows[0]["merged_into"] is not None:
        raise NotFound(_("No member with number %(no)s.") % {"no": survivor_no})
    survivor = rows[0]
    rows = await fetch(_SIDE_SQL + " WHERE m.member_no = {}", other_no)
    if not rows:
        raise ValidationFailed({"other_no": _("No member with number %(no)s.") % {"no": other_no}})
    other = rows[0]
    if other["id"] == survivor["id"]:
        raise ValidationFailed({"other_no": _("That is this member's own number: enter the other record's number.")})
    if other["merged_into"] is not None:
        into = await resolve_member_no(other_no)
        raise ValidationFailed(
            {"other_no": _("%(no)s was already merged into %(into)s.") % {"no": other_no, "into": into or "—"}}
        )
    return survivor, other


async def preview(survivor_no: str, other_no: str, actor: StaffUser) -> MergePreview:
    """Both records side by side with how many rows of each kind would move; the view is audited (allergies)."""
    survivor, other = await _pair(survivor_no, other_no)
    s_side, m_side = await _side(survivor), await _side(other)
    ids = [survivor["id"], other["id"]]
    for mov in MOVABLE:
        rows = await fetch(
            f"SELECT {mov.column} AS member, COUNT(*) AS n FROM {mov.table} WHERE {mov.column} IN ({{}}, {{}})"
            f" GROUP BY {mov.column}",
            *ids,
        )
        counts = {r["member"]: r["n"] for r in rows}
        s_side.counts[mov.table] = counts.get(survivor["id"], 0)
        m_side.counts[mov.table] = counts.get(other["id"], 0)
    for side in (s_side, m_side):
        await audit.record(actor, MEMBER_MERGE_PREVIEW, member_id=side.id)
    return MergePreview(
        survivor=s_side,
        merged=m_side,
        labels={m.table: movable_label(m.table) for m in MOVABLE},
        differences=_differences(s_side, m_side),
    )


# ---------------------------------------------------------------- records


@dataclass
class MergeRecord:
    """A merge as the profile lists it, with what moved and whether it was undone."""

    id: int
    survivor_no: str
    survivor_name: str
    merged_no: str
    merged_name: str
    at: datetime | None
    staff: str | None
    moved: dict[str, int]
    undone_at: datetime | None
    undone_by: str | None
    survivor_live: bool = True

    @property
    def active(self) -> bool:
        return self.undone_at is None

    @property
    def moved_labels(self) -> list[tuple[str, int]]:
        return [(movable_label(t), n) for t, n in self.moved.items() if n]


def _loads(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    return json.loads(value or "{}")


_RECORD_SQL = (
    "SELECT mm.id, mm.at, mm.moved, mm.undone_at, s.member_no AS s_no, s.name AS s_name,"
    " s.merged_into AS s_merged_into, m.member_no AS m_no, m.name AS m_name,"
    " st.display_name AS staff, ub.display_name AS undone_by"
    " FROM member_merge mm JOIN member s ON s.id = mm.survivor JOIN member m ON m.id = mm.merged"
    " LEFT JOIN staff st ON st.id = mm.staff LEFT JOIN staff ub ON ub.id = mm.undone_by"
)


def _record(row: dict) -> MergeRecord:
    moved = _loads(row["moved"]).get("rows", {})
    return MergeRecord(
        id=row["id"],
        survivor_no=row["s_no"],
        survivor_name=row["s_name"],
        merged_no=row["m_no"],
        merged_name=row["m_name"],
        at=_as_datetime(row["at"]),
        staff=row["staff"],
        moved={t: len(ids) for t, ids in moved.items()},
        undone_at=_as_datetime(row["undone_at"]),
        undone_by=row["undone_by"],
        survivor_live=row["s_merged_into"] is None,
    )


async def get_merge(merge_id: int) -> MergeRecord:
    """One merge record, or NotFound."""
    rows = await fetch(_RECORD_SQL + " WHERE mm.id = {}", merge_id)
    if not rows:
        raise NotFound(_("No merge with number %(id)s.") % {"id": merge_id})
    return _record(rows[0])


async def merges_for(member_no: str) -> list[MergeRecord]:
    """The merges this member took part in (as survivor or merged), newest first; NotFound for an unknown number."""
    if not await fetch("SELECT id FROM member WHERE member_no = {}", member_no):
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    rows = await fetch(
        _RECORD_SQL + " WHERE s.member_no = {} OR m.member_no = {} ORDER BY mm.at DESC, mm.id DESC",
        member_no,
        member_no,
    )
    return [_record(r) for r in rows]


# ---------------------------------------------------------------- merge


async def _lock(member_id: int) -> dict:
    """Read a member row, locking it until the transaction ends (SQLite's write transaction already serialises)."""
    rows = await fetch(_SIDE_SQL + " WHERE m.id = {}" + ("" if is_sqlite() else " FOR UPDATE OF m"), member_id)
    return rows[0]


async def _active_merge(survivor_id: int, merged_id: int) -> int | None:
    rows = await fetch(
        "SELECT id FROM member_merge WHERE survivor = {} AND merged = {} AND undone_at IS NULL ORDER BY id DESC",
        survivor_id,
        merged_id,
    )
    return rows[0]["id"] if rows else None


async def _move_rows(survivor_id: int, merged_id: int) -> dict[str, list[int]]:
    """Move every registered table's rows from the merged member to the survivor; return the ids moved."""
    moved: dict[str, list[int]] = {}
    for mov in MOVABLE:
        clash = ""
        if mov.unique:
            same = " AND ".join(f"s.{c} = r.{c}" for c in mov.unique)
            clash = f" AND NOT EXISTS (SELECT 1 FROM {mov.table} s WHERE s.{mov.column} = {{}} AND {same})"
        args = [merged_id, survivor_id] if mov.unique else [merged_id]
        rows = await fetch(f"SELECT r.id FROM {mov.table} r WHERE r.{mov.column} = {{}}{clash} ORDER BY r.id", *args)
        ids = [r["id"] for r in rows]
        await _reassign(mov, ids, survivor_id)
        moved[mov.table] = ids
    return moved


async def _reassign(mov: Movable, ids: list[int], to_member: int, from_member: int | None = None) -> None:
    """Point rows `ids` of a movable table at `to_member` (only those still at `from_member`, when given)."""
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        where = f"id IN ({marks(chunk)})"
        args: list[Any] = [to_member, *chunk]
        if from_member is not None:
            where += f" AND {mov.column} = {{}}"
            args.append(from_member)
        await fetch(f"UPDATE {mov.table} SET {mov.column} = {{}} WHERE {where}", *args)


async def _fill_details(survivor: dict, merged: dict) -> dict[str, Any]:
    """Copy personal details the survivor lacks from the merged record; return group → the key value copied."""
    filled: dict[str, Any] = {}
    for group, (key, columns) in FILLABLE.items():
        if survivor[key] in (None, "") and merged[key] not in (None, ""):
            sets = ", ".join(f"{c} = {{}}" for c in columns)
            await fetch(f"UPDATE member SET {sets} WHERE id = {{}}", *[merged[c] for c in columns], survivor["id"])
            filled[group] = _jsonable(merged[key])
    if survivor["gender"] == "U" and merged["gender"] in ("M", "F"):
        await fetch("UPDATE member SET gender = {} WHERE id = {}", merged["gender"], survivor["id"])
        filled["gender"] = merged["gender"]
    return filled


async def _merge_allergy_status(survivor: dict, merged: dict, now: datetime) -> bool:
    """The survivor's allergy status after the merge: allergies if any are active; else the better-known answer.

    Returns whether it changed.
    """
    active = await fetch(
        "SELECT COUNT(*) AS n FROM allergy WHERE member = {} AND clinical_status = 'active'", survivor["id"]
    )
    if active[0]["n"] and survivor["allergy_status"] != "has_allergies":
        src = merged if merged["allergy_status"] == "has_allergies" else None
        await fetch(
            "UPDATE member SET allergy_status = 'has_allergies', allergy_status_by = {}, allergy_status_at = {}"
            " WHERE id = {}",
            src["allergy_status_by"] if src else None,
            src["allergy_status_at"] if src else now,
            survivor["id"],
        )
        return True
    if not active[0]["n"] and survivor["allergy_status"] == "unknown" and merged["allergy_status"] == "none":
        await fetch(
            "UPDATE member SET allergy_status = 'none', allergy_status_by = {}, allergy_status_at = {} WHERE id = {}",
            merged["allergy_status_by"],
            merged["allergy_status_at"],
            survivor["id"],
        )
        return True
    return False


async def _merge_household(survivor: dict, merged: dict) -> dict[str, Any]:
    """Give the survivor the merged record's place in a household; return what to put back on undo."""
    s_hh, m_hh = survivor["household"], merged["household"]
    if m_hh and s_hh and m_hh != s_hh:
        raise ValidationFailed(
            {"other_no": _("The two records belong to different households: unlink one of them first.")}
        )
    if m_hh and s_hh and (survivor["household_role"] == "child") != (merged["household_role"] == "child"):
        raise ValidationFailed(
            {"other_no": _("One record is a child and the other an adult of the household: unlink one first.")}
        )
    info: dict[str, Any] = {"guardians": [], "contact_households": []}
    if not m_hh:
        return info
    wards = await fetch("SELECT id FROM member WHERE guardian = {}", merged["id"])
    info["guardians"] = [w["id"] for w in wards]
    if info["guardians"]:
        await fetch(
            f"UPDATE member SET guardian = {{}} WHERE id IN ({marks(info['guardians'])})",
            survivor["id"],
            *info["guardians"],
        )
    contact = await fetch("SELECT id FROM household WHERE contact = {}", merged["id"])
    info["contact_households"] = [c["id"] for c in contact]
    if info["contact_households"]:
        await fetch(
            f"UPDATE household SET contact = {{}} WHERE id IN ({marks(info['contact_households'])})",
            survivor["id"],
            *info["contact_households"],
        )
    if not s_hh:
        await fetch(
            "UPDATE member SET household = {}, household_role = {}, guardian = {} WHERE id = {}",
            m_hh,
            merged["household_role"],
            merged["guardian"],
            survivor["id"],
        )
    elif merged["household_role"] == "contact":
        await fetch("UPDATE member SET household_role = 'contact' WHERE id = {}", survivor["id"])
    await fetch("UPDATE member SET household = NULL, household_role = '', guardian = NULL WHERE id = {}", merged["id"])
    return info


def _snapshot(row: dict) -> dict[str, Any]:
    keep = ("household", "household_role", "guardian", "allergy_status", "allergy_status_by", "allergy_status_at")
    return {k: _jsonable(row[k]) for k in keep}


async def _replay(survivor_no: str, merged_no: str) -> MergeRecord | None:
    """The live merge of exactly this pair, if there is one."""
    rows = await fetch(
        "SELECT s.id AS s_id, m.id AS m_id FROM member s JOIN member m ON m.merged_into = s.id"
        " WHERE s.member_no = {} AND m.member_no = {} AND s.merged_into IS NULL",
        survivor_no,
        (merged_no or "").strip(),
    )
    if rows and (existing := await _active_merge(rows[0]["s_id"], rows[0]["m_id"])):
        return await get_merge(existing)
    return None


async def merge(survivor_no: str, merged_no: str, actor: StaffUser) -> MergeRecord:
    """Merge the record `merged_no` into `survivor_no`: its rows move, it is marked merged and leaves every list.

    Idempotent: asking again for a pair already merged returns the same merge.
    """
    if replayed := await _replay(survivor_no, merged_no):
        return replayed
    try:
        survivor, merged = await _pair(survivor_no, merged_no)
    except ValidationFailed:
        # A concurrent request may have merged this very pair since the check above: then this is a replay.
        if replayed := await _replay(survivor_no, merged_no):
            return replayed
        raise
    now = datetime.now(UTC)
    async with transaction():
        # Lock both rows in id order, so a crossing merge (B into A while A into B) waits instead of deadlocking.
        locked = {mid: await _lock(mid) for mid in sorted((survivor["id"], merged["id"]))}
        survivor, merged = locked[survivor["id"]], locked[merged["id"]]
        if merged["merged_into"] == survivor["id"] and survivor["merged_into"] is None:
            existing = await _active_merge(survivor["id"], merged["id"])
            if existing:
                return await get_merge(existing)
        if survivor["merged_into"] is not None:
            raise ValidationFailed({"other_no": _("%(no)s was already merged.") % {"no": survivor["member_no"]}})
        claimed = await fetch(
            "UPDATE member SET merged_into = {}, updated_at = {} WHERE id = {} AND merged_into IS NULL RETURNING id",
            survivor["id"],
            now,
            merged["id"],
        )
        if not claimed:
            raise ValidationFailed({"other_no": _("%(no)s was already merged.") % {"no": merged["member_no"]}})
        household = await _merge_household(survivor, merged)
        moved = await _move_rows(survivor["id"], merged["id"])
        filled = await _fill_details(survivor, merged)
        status_changed = await _merge_allergy_status(survivor, merged, now)
        await fetch("UPDATE member SET updated_at = {} WHERE id = {}", now, survivor["id"])
        await consents.refresh_cache([survivor["id"], merged["id"]])
        await loyalty.refresh_cache([survivor["id"], merged["id"]])
        record = {
            "rows": moved,
            "filled": filled,
            "survivor": _snapshot(survivor),
            "merged": _snapshot(merged),
            "allergy_status_changed": status_changed,
            **household,
        }
        rows = await fetch(
            "INSERT INTO member_merge (survivor, merged, at, staff, moved) VALUES ({}, {}, {}, {}, {}) RETURNING id",
            survivor["id"],
            merged["id"],
            now,
            actor.id,
            json.dumps(record),
        )
        merge_id = rows[0]["id"]
        ref = f"merge:{merge_id}"
        await timeline.record_event(
            survivor["id"],
            timeline.MERGED,
            timeline.message(
                N_("Merged with %(no)s (%(name)s): its records moved here"),
                no=merged["member_no"],
                name=merged["name"],
            ),
            actor,
            ref=ref,
        )
        await timeline.record_event(
            merged["id"],
            timeline.MERGED,
            timeline.message(N_("Merged into %(no)s (%(name)s)"), no=survivor["member_no"], name=survivor["name"]),
            actor,
            ref=ref,
        )
        await audit.record(actor, MEMBER_MERGE, member_id=survivor["id"], detail=f"{ref} from {merged['member_no']}")
        await audit.record(actor, MEMBER_MERGE, member_id=merged["id"], detail=f"{ref} into {survivor['member_no']}")
    return await get_merge(merge_id)


# ---------------------------------------------------------------- undo


async def undo(merge_id: int, actor: StaffUser, member_no: str | None = None) -> MergeRecord:
    """Undo a merge: the moved rows go back, the merged record is live again. Undoing twice changes nothing.

    With `member_no`, the merge must be one that member took part in.
    """
    rows = await fetch("SELECT id, survivor, merged, moved, undone_at FROM member_merge WHERE id = {}", merge_id)
    if rows and member_no is not None:
        record = await get_merge(merge_id)
        if member_no not in (record.survivor_no, record.merged_no):
            rows = []
    if not rows:
        raise NotFound(_("No merge with number %(id)s.") % {"id": merge_id})
    if rows[0]["undone_at"] is not None:
        return await get_merge(merge_id)
    survivor_id, merged_id = rows[0]["survivor"], rows[0]["merged"]
    now = datetime.now(UTC)
    async with transaction():
        locked = {mid: await _lock(mid) for mid in sorted((survivor_id, merged_id))}
        survivor, merged = locked[survivor_id], locked[merged_id]
        if survivor["merged_into"] is not None:
            raise ValidationFailed(
                {"merge": _("%(no)s was itself merged later: undo that merge first.") % {"no": survivor["member_no"]}}
            )
        claimed = await fetch(
            "UPDATE member_merge SET undone_at = {}, undone_by = {} WHERE id = {} AND undone_at IS NULL RETURNING id",
            now,
            actor.id,
            merge_id,
        )
        if not claimed:
            return await get_merge(merge_id)
        info = _loads(rows[0]["moved"])
        by_table = {m.table: m for m in MOVABLE}
        for table, ids in info.get("rows", {}).items():
            mov = by_table.get(table) or Movable(table)
            await _reassign(mov, ids, merged_id, from_member=survivor_id)
        await _undo_details(survivor, merged, info, actor, now)
        await fetch(
            "UPDATE member SET merged_into = NULL, updated_at = {} WHERE id = {} AND merged_into = {}",
            now,
            merged_id,
            survivor_id,
        )
        await fetch("UPDATE member SET updated_at = {} WHERE id = {}", now, survivor_id)
        await consents.refresh_cache([survivor_id, merged_id])
        await loyalty.refresh_cache([survivor_id, merged_id])
        ref = f"merge:{merge_id}"
        await timeline.record_event(
            survivor_id,
            timeline.MERGED,
            timeline.message(N_("Merge with %(no)s undone: its records moved back"), no=merged["member_no"]),
            actor,
            ref=ref,
        )
        await timeline.record_event(
            merged_id,
            timeline.MERGED,
            timeline.message(N_("Merge into %(no)s undone: this record is in use again"), no=survivor["member_no"]),
            actor,
            ref=ref,
        )
        await audit.record(actor, MEMBER_MERGE_UNDO, member_id=survivor_id, detail=ref)
        await audit.record(actor, MEMBER_MERGE_UNDO, member_id=merged_id, detail=ref)
    return await get_merge(merge_id)


async def _undo_details(survivor: dict, merged: dict, info: dict, actor: StaffUser, now: datetime) -> None:
    """Put back the copied details, the household places and the allergy status the merge changed."""
    s_id, m_id = survivor["id"], merged["id"]
    for group, value in info.get("filled", {}).items():
        if group == "gender":
            await fetch("UPDATE member SET gender = 'U' WHERE id = {} AND gender = {}", s_id, value)
            continue
        key, columns = FILLABLE[group]
        sets = ", ".join(f"{c} = {'{}' if c in _EMPTY else 'NULL'}" for c in columns)
        empties = [_EMPTY[c] for c in columns if c in _EMPTY]
        current = _jsonable(survivor[key])
        if current == value:  # not edited since the merge
            await fetch(f"UPDATE member SET {sets} WHERE id = {{}}", *empties, s_id)
    s_before, m_before = info.get("survivor", {}), info.get("merged", {})
    # The household places go back only while the survivor is still where the merge put it.
    if m_before.get("household") and survivor["household"] == m_before["household"]:
        if info.get("guardians"):
            await fetch(
                f"UPDATE member SET guardian = {{}} WHERE guardian = {{}} AND id IN ({marks(info['guardians'])})",
                m_id,
                s_id,
                *info["guardians"],
            )
        if info.get("contact_households"):
            await fetch(
                "UPDATE household SET contact = {} WHERE contact = {}"
                f" AND id IN ({marks(info['contact_households'])})",
                m_id,
                s_id,
                *info["contact_households"],
            )
        for mid, before in ((s_id, s_before), (m_id, m_before)):
            await fetch(
                "UPDATE member SET household = {}, household_role = {}, guardian = {} WHERE id = {}",
                before.get("household"),
                before.get("household_role") or "",
                before.get("guardian"),
                mid,
            )
    if info.get("allergy_status_changed"):
        await fetch(
            "UPDATE member SET allergy_status = {}, allergy_status_by = {}, allergy_status_at = {} WHERE id = {}",
            s_before.get("allergy_status") or "unknown",
            s_before.get("allergy_status_by"),
            _as_datetime(s_before.get("allergy_status_at")),
            s_id,
        )
    # Whoever holds active allergies after the rows went back shows them, whatever the snapshot said.
    await fetch(
        "UPDATE member SET allergy_status = 'has_allergies', allergy_status_by = {}, allergy_status_at = {}"
        " WHERE id IN ({}, {}) AND allergy_status <> 'has_allergies'"
        " AND EXISTS (SELECT 1 FROM allergy a WHERE a.member = member.id AND a.clinical_status = 'active')",
        actor.id,
        now,
        s_id,
        m_id,
    )
