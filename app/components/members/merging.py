"""Merging two records of one person into the survivor, recorded with what moved so it can be undone."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from app.components import audit, consents, events, loyalty, timeline
from app.components.allergies import class_label
from app.components.core.actor import StaffUser
from app.components.core.clock import age_on, store_today
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import Role
from app.components.members.numbers import resolve_member_no
from app.components.members.queries import merge as queries
from app.components.members.queries.merge import FILLABLE, MOVABLE, Movable
from app.db import as_date, as_datetime, transaction
from app.i18n import N_, _

# Who may merge and undo: a pharmacist's judgement that two records are one person.
MERGE_ROLES = frozenset({Role.PHARMACIST, Role.STORE_MANAGER})
MEMBER_MERGE = "member.merge"
MEMBER_MERGE_UNDO = "member.merge_undo"
MEMBER_MERGE_PREVIEW = "member.merge_preview"
ID_CHUNK = 500


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


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


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
    birth = as_date(row["birth_date"])
    allergies = await queries.active_allergy_classes(row["id"])
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
        created_at=as_datetime(row["created_at"]),
        allergy_status=row["allergy_status"],
        allergies=[class_label(a) for a in allergies],
        household_role=row["household_role"] or "",
    )


async def _pair(survivor_no: str, other_no: str) -> tuple[dict, dict]:
    """Both live records, or field errors on `other_no` saying what is wrong."""
    other_no = (other_no or "").strip()
    if not other_no:
        raise ValidationFailed({"other_no": _("Enter the member number of the other record.")})
    survivor = await queries.side_by_no(survivor_no)
    if survivor is None or survivor["merged_into"] is not None:
        raise NotFound(_("No member with number %(no)s.") % {"no": survivor_no})
    other = await queries.side_by_no(other_no)
    if other is None:
        raise ValidationFailed({"other_no": _("No member with number %(no)s.") % {"no": other_no}})
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
    for mov in MOVABLE:
        counts = await queries.counts(mov, survivor["id"], other["id"])
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


def _record(row: dict) -> MergeRecord:
    moved = _loads(row["moved"]).get("rows", {})
    return MergeRecord(
        id=row["id"],
        survivor_no=row["s_no"],
        survivor_name=row["s_name"],
        merged_no=row["m_no"],
        merged_name=row["m_name"],
        at=as_datetime(row["at"]),
        staff=row["staff"],
        moved={t: len(ids) for t, ids in moved.items()},
        undone_at=as_datetime(row["undone_at"]),
        undone_by=row["undone_by"],
        survivor_live=row["s_merged_into"] is None,
    )


async def get_merge(merge_id: int) -> MergeRecord:
    """One merge record, or NotFound."""
    row = await queries.merge_record(merge_id)
    if row is None:
        raise NotFound(_("No merge with number %(id)s.") % {"id": merge_id})
    return _record(row)


async def merges_for(member_no: str) -> list[MergeRecord]:
    """The merges this member took part in (as survivor or merged), newest first; NotFound for an unknown number."""
    if not await queries.member_exists(member_no):
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    rows = await queries.merge_records_of(member_no)
    return [_record(r) for r in rows]


# ---------------------------------------------------------------- merge


async def _move_rows(survivor_id: int, merged_id: int) -> dict[str, list[int]]:
    """Move every registered table's rows from the merged member to the survivor; return the ids moved."""
    moved: dict[str, list[int]] = {}
    for mov in MOVABLE:
        ids = await queries.move_ids(mov, merged_id, survivor_id)
        await _reassign(mov, ids, survivor_id)
        moved[mov.table] = ids
    return moved


async def _reassign(mov: Movable, ids: list[int], to_member: int, from_member: int | None = None) -> None:
    """Point rows `ids` of a movable table at `to_member` (only those still at `from_member`, when given)."""
    for start in range(0, len(ids), ID_CHUNK):
        await queries.reassign(mov, ids[start : start + ID_CHUNK], to_member, from_member)


async def _fill_details(survivor: dict, merged: dict) -> dict[str, Any]:
    """Copy personal details the survivor lacks from the merged record; return group → the key value copied."""
    filled: dict[str, Any] = {}
    for group, (key, columns) in FILLABLE.items():
        if survivor[key] in (None, "") and merged[key] not in (None, ""):
            await queries.fill(group, [merged[c] for c in columns], survivor["id"])
            filled[group] = _jsonable(merged[key])
    if survivor["gender"] == "U" and merged["gender"] in ("M", "F"):
        await queries.set_gender(survivor["id"], merged["gender"])
        filled["gender"] = merged["gender"]
    return filled


async def _merge_allergy_status(survivor: dict, merged: dict, now: datetime) -> bool:
    """The survivor's allergy status after the merge: allergies if any are active; else the better-known answer.

    Returns whether it changed.
    """
    active = await queries.clinically_active_allergies(survivor["id"])
    if active and survivor["allergy_status"] != "has_allergies":
        src = merged if merged["allergy_status"] == "has_allergies" else None
        await queries.set_allergy_status(
            survivor["id"],
            "has_allergies",
            src["allergy_status_by"] if src else None,
            src["allergy_status_at"] if src else now,
        )
        return True
    if not active and survivor["allergy_status"] == "unknown" and merged["allergy_status"] == "none":
        await queries.set_allergy_status(
            survivor["id"], "none", merged["allergy_status_by"], merged["allergy_status_at"]
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
    info["guardians"] = await queries.wards_of(merged["id"])
    if info["guardians"]:
        await queries.move_guardian(info["guardians"], survivor["id"])
    info["contact_households"] = await queries.households_with_contact(merged["id"])
    if info["contact_households"]:
        await queries.move_contact(info["contact_households"], survivor["id"])
    if not s_hh:
        await queries.set_household_place(survivor["id"], m_hh, merged["household_role"], merged["guardian"])
    elif merged["household_role"] == "contact":
        await queries.make_contact(survivor["id"])
    await queries.leave_household(merged["id"])
    return info


def _snapshot(row: dict) -> dict[str, Any]:
    keep = ("household", "household_role", "guardian", "allergy_status", "allergy_status_by", "allergy_status_at")
    return {k: _jsonable(row[k]) for k in keep}


async def _replay(survivor_no: str, merged_no: str) -> MergeRecord | None:
    """The live merge of exactly this pair, if there is one."""
    pair = await queries.merged_pair(survivor_no, (merged_no or "").strip())
    if pair and (existing := await queries.active_merge(pair["s_id"], pair["m_id"])):
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
        locked = {mid: await queries.lock_side(mid) for mid in sorted((survivor["id"], merged["id"]))}
        survivor, merged = locked[survivor["id"]], locked[merged["id"]]
        if merged["merged_into"] == survivor["id"] and survivor["merged_into"] is None:
            existing = await queries.active_merge(survivor["id"], merged["id"])
            if existing:
                return await get_merge(existing)
        if survivor["merged_into"] is not None:
            raise ValidationFailed({"other_no": _("%(no)s was already merged.") % {"no": survivor["member_no"]}})
        if not await queries.claim_merged(merged["id"], survivor["id"], now):
            raise ValidationFailed({"other_no": _("%(no)s was already merged.") % {"no": merged["member_no"]}})
        household = await _merge_household(survivor, merged)
        moved = await _move_rows(survivor["id"], merged["id"])
        filled = await _fill_details(survivor, merged)
        status_changed = await _merge_allergy_status(survivor, merged, now)
        await queries.touch(survivor["id"], now)
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
        merge_id = await queries.insert_merge(survivor["id"], merged["id"], now, actor.id, json.dumps(record))
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
        await events.record(
            f"member.merged:{merge_id}",
            events.MEMBER_MERGED,
            survivor["id"],
            None,
            {"from_id": merged["id"], "into_id": survivor["id"], "merge": merge_id},
            now,
        )
    return await get_merge(merge_id)


# ---------------------------------------------------------------- undo


async def undo(merge_id: int, actor: StaffUser, member_no: str | None = None) -> MergeRecord:
    """Undo a merge: the moved rows go back, the merged record is live again. Undoing twice changes nothing.

    With `member_no`, the merge must be one that member took part in.
    """
    row = await queries.merge_row(merge_id)
    if row is not None and member_no is not None:
        record = await get_merge(merge_id)
        if member_no not in (record.survivor_no, record.merged_no):
            row = None
    if row is None:
        raise NotFound(_("No merge with number %(id)s.") % {"id": merge_id})
    if row["undone_at"] is not None:
        return await get_merge(merge_id)
    survivor_id, merged_id = row["survivor"], row["merged"]
    now = datetime.now(UTC)
    async with transaction():
        locked = {mid: await queries.lock_side(mid) for mid in sorted((survivor_id, merged_id))}
        survivor, merged = locked[survivor_id], locked[merged_id]
        if survivor["merged_into"] is not None:
            raise ValidationFailed(
                {"merge": _("%(no)s was itself merged later: undo that merge first.") % {"no": survivor["member_no"]}}
            )
        if not await queries.claim_undo(merge_id, now, actor.id):
            return await get_merge(merge_id)
        info = _loads(row["moved"])
        by_table = {m.table: m for m in MOVABLE}
        for table, ids in info.get("rows", {}).items():
            # Only tables of the registry move back: a stored record never names the table to write.
            await _reassign(by_table[table], ids, merged_id, from_member=survivor_id)
        await _undo_details(survivor, merged, info, actor, now)
        await queries.release_merged(merged_id, survivor_id, now)
        await queries.touch(survivor_id, now)
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
            await queries.unset_gender(s_id, value)
            continue
        key = FILLABLE[group][0]
        if _jsonable(survivor[key]) == value:  # not edited since the merge
            await queries.unfill(group, s_id)
    s_before, m_before = info.get("survivor", {}), info.get("merged", {})
    # The household places go back only while the survivor is still where the merge put it.
    if m_before.get("household") and survivor["household"] == m_before["household"]:
        if info.get("guardians"):
            await queries.move_guardian(info["guardians"], m_id, from_member=s_id)
        if info.get("contact_households"):
            await queries.move_contact(info["contact_households"], m_id, from_member=s_id)
        for mid, before in ((s_id, s_before), (m_id, m_before)):
            await queries.set_household_place(
                mid, before.get("household"), before.get("household_role") or "", before.get("guardian")
            )
    if info.get("allergy_status_changed"):
        await queries.set_allergy_status(
            s_id,
            s_before.get("allergy_status") or "unknown",
            s_before.get("allergy_status_by"),
            as_datetime(s_before.get("allergy_status_at")),
        )
    # Whoever holds active allergies after the rows went back shows them, whatever the snapshot said.
    await queries.show_active_allergies(s_id, m_id, actor.id, now)
