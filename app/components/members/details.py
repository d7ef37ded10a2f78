"""Profile details: the details section, edits with their history, phone reveals and periodic verification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from app.components import audit, timeline
from app.components.core.actor import StaffUser
from app.components.core.crypto import decrypt, encrypt
from app.components.core.errors import NotFound, ValidationFailed
from app.components.members.fields import (
    EDITABLE_FIELDS,
    ENCRYPTED_FIELDS,
    field_label,
    gender_label,
    member_class_label,
)
from app.components.members.lookup import member_id
from app.components.members.numbers import id_number_index, mask_id_number, mask_phone, phone_index
from app.components.members.queries import member as queries
from app.components.members.registration import NewMember, store_pharmacists, validate_new_member
from app.db import as_date, as_datetime, transaction
from app.i18n import N_, _
from app.settings import get_settings

DETAILS_VIEW = "member.details_view"
MEMBER_EDIT = "member.edit"
MEMBER_VERIFY = "member.verify"
PHONE_REVEAL = "member.phone_reveal"


@dataclass
class MemberDetails:
    """The "details" section: class, contacts and identifiers (address in clear, phone and ID masked)."""

    id: int
    member_no: str
    name: str
    gender: str
    birth_date: date | None
    member_class: str
    organisation: str
    responsible_pharmacist_id: int | None
    responsible_pharmacist: str | None
    phone_masked: str
    address: str | None
    id_masked: str
    home_store_id: int | None
    home_store: str | None
    verified_at: datetime | None
    verified_by: str | None
    needs_verification: bool

    @property
    def member_class_label(self) -> str:
        return member_class_label(self.member_class)


async def _details_row(member_no: str) -> dict:
    row = await queries.details_row(member_no)
    if row is None:
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    return row


def _stale(verified: datetime | None) -> bool:
    months = get_settings().profile_verify_months
    return verified is None or (datetime.now(UTC) - verified).days > months * 365 // 12


async def details(member_no: str, actor: StaffUser) -> MemberDetails:
    """The member's details with the address decrypted; audited (personal identifiers were read)."""
    row = await _details_row(member_no)
    await audit.record(actor, DETAILS_VIEW, member_id=row["id"])
    verified = as_datetime(row["verified_at"])
    return MemberDetails(
        id=row["id"],
        member_no=row["member_no"],
        name=row["name"],
        gender=row["gender"],
        birth_date=as_date(row["birth_date"]),
        member_class=row["member_class"] or "member",
        organisation=row["organisation"] or "",
        responsible_pharmacist_id=row["responsible_pharmacist"],
        responsible_pharmacist=row["pharmacist_name"],
        phone_masked=row["phone_masked"] or "",
        address=decrypt(row["address_enc"], "address"),
        id_masked=mask_id_number(decrypt(row["id_number_enc"], "id_number")),
        home_store_id=row["home_store"],
        home_store=row["store_name"],
        verified_at=verified,
        verified_by=row["verified_by_name"],
        needs_verification=_stale(verified or as_datetime(row["created_at"])),
    )


def _current_values(row: dict) -> dict:
    """The stored profile fields in clear, keyed like `EDITABLE_FIELDS`."""
    return {
        "name": row["name"],
        "gender": row["gender"],
        "birth_date": as_date(row["birth_date"]),
        "phone": decrypt(row["phone_enc"], "phone"),
        "address": decrypt(row["address_enc"], "address"),
        "id_number": decrypt(row["id_number_enc"], "id_number"),
        "member_class": row["member_class"] or "member",
        "organisation": row["organisation"] or "",
        "responsible_pharmacist": row["responsible_pharmacist"],
    }


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


async def edit_values(member_no: str, actor: StaffUser) -> NewMember:
    """The member's own edit form, filled in: the phone in clear (audited as a reveal), the ID number left blank."""
    row = await _details_row(member_no)
    values = _current_values(row)
    await audit.record(actor, PHONE_REVEAL, member_id=row["id"], detail="edit-form")
    form = NewMember(**{f: _as_text(values[f]) for f in EDITABLE_FIELDS})
    form.id_number = ""  # blank keeps the stored number; it is never shown in clear
    return form


@dataclass(frozen=True)
class FieldChange:
    """One changed field of one edit; encrypted fields carry "added", "changed" or "removed" instead of values."""

    field: str
    old: str
    new: str


# An error on one of these is caused by a change to the other (ID ↔ birth date, class ↔ organisation).
_RELATED = {
    "id_number": {"birth_date"},
    "birth_date": {"id_number"},
    "organisation": {"member_class"},
    "member_class": {"organisation"},
}


async def update_member(member_no: str, changes: dict[str, str], actor: StaffUser) -> list[FieldChange]:
    """Change some profile fields (a partial update) with the registration rules; one history row per change.

    `changes` maps field names from `EDITABLE_FIELDS` to the text as typed ("" clears a field). Errors are
    reported only for the fields changed (and the ones they must agree with), so a stale value elsewhere
    never blocks an unrelated edit. Returns what changed; nothing changed writes nothing.
    """
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationFailed({name: _("This field cannot be changed here.") for name in unknown})
    row = await _details_row(member_no)
    current = _current_values(row)
    merged = NewMember(**{f: _as_text(current[f]) for f in EDITABLE_FIELDS})
    for name, value in changes.items():
        setattr(merged, name, "" if value is None else str(value))
    errors, clean = validate_new_member(merged, pharmacists=await store_pharmacists(row["home_store"]))
    errors = {k: v for k, v in errors.items() if k in changes or _RELATED.get(k, set()) & changes.keys()}
    if errors:
        raise ValidationFailed(errors)
    touched = set(changes)
    if "id_number" in touched and not merged.birth_date.strip():
        touched.add("birth_date")  # taken from the new ID number
    diffs = [f for f in EDITABLE_FIELDS if f in touched and current[f] != clean[f]]
    if not diffs:
        return []
    result = []
    assignments: dict[str, object] = {}
    for name in diffs:
        old, new = current[name], clean[name]
        if name in ENCRYPTED_FIELDS:
            marker = "added" if old is None else "removed" if new is None else "changed"
            result.append(FieldChange(name, "", marker))
            assignments[f"{name}_enc"] = encrypt(new, name) if new else None
            if name == "phone":
                assignments["phone_index"] = phone_index(new) if new else None
                assignments["phone_masked"] = mask_phone(new)
            elif name == "id_number":
                assignments["id_number_index"] = id_number_index(new) if new else None
        else:
            result.append(FieldChange(name, _as_text(old), _as_text(new)))
            assignments[name] = new
    now = datetime.now(UTC)
    assignments["updated_at"] = now
    async with transaction():
        await queries.update_member_fields(row["id"], assignments)
        for change in result:
            await queries.insert_change(row["id"], now, actor.id, change.field, change.old, change.new)
        fields = timeline.Label("member_field", tuple(c.field for c in result))
        summary = timeline.message(N_("Details changed: %(fields)s"), fields=fields)
        await timeline.record_event(row["id"], timeline.EDITED, summary, actor, ref="details")
        await audit.record(actor, MEMBER_EDIT, member_id=row["id"], detail=",".join(c.field for c in result))
    return result


@dataclass(frozen=True)
class HistoryRow:
    """One line of the edit history, ready to show."""

    at: datetime
    staff: str | None
    field: str
    label: str
    old: str
    new: str


def _shown_value(name: str, value: str, pharmacists: dict[int, str]) -> str:
    if name in ENCRYPTED_FIELDS:
        return {"added": _("added"), "changed": _("changed"), "removed": _("removed")}.get(value, "")
    if not value:
        return "—"
    if name == "member_class":
        return member_class_label(value)
    if name == "gender":
        return gender_label(value)
    if name == "responsible_pharmacist" and value.isdigit():
        return pharmacists.get(int(value), value)
    return value


async def change_history(member_no: str, limit: int = 100) -> list[HistoryRow]:
    """Who changed which field when, newest first (encrypted fields say that they changed, never the values)."""
    mid = await member_id(member_no)
    rows = await queries.changes(mid, limit)
    staff_ids = {
        int(v)
        for r in rows
        if r["field"] == "responsible_pharmacist"
        for v in (r["old_value"], r["new_value"])
        if v and v.isdigit()
    }
    names: dict[int, str] = {}
    for staff_id in staff_ids:
        found = await queries.staff_name(staff_id)
        if found is not None:
            names[staff_id] = found
    return [
        HistoryRow(
            at=as_datetime(r["at"]),
            staff=r["staff"],
            field=r["field"],
            label=field_label(r["field"]),
            old="" if r["field"] in ENCRYPTED_FIELDS else _shown_value(r["field"], r["old_value"], names),
            new=_shown_value(r["field"], r["new_value"], names),
        )
        for r in rows
    ]


async def confirm_details(member_no: str, actor: StaffUser) -> None:
    """The member confirmed their details today: verified now by `actor`, no longer due."""
    mid = await member_id(member_no)
    now = datetime.now(UTC)
    async with transaction():
        await queries.mark_verified(mid, actor.id, now)
        await timeline.record_event(
            mid, timeline.VERIFIED, timeline.message(N_("Details confirmed with the member")), actor
        )
        await audit.record(actor, MEMBER_VERIFY, member_id=mid)


async def reveal_phone(member_no: str, actor: StaffUser) -> str | None:
    """The member's phone in clear (own edit form only), audited."""
    row = await queries.phone_of(member_no)
    if row is None:
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    await audit.record(actor, PHONE_REVEAL, member_id=row["id"])
    return decrypt(row["phone_enc"], "phone")


async def flag_verification_due(months: int | None = None) -> int:
    """Set-based: mark members whose profile was not confirmed for `months`; return how many are due."""
    months = months or get_settings().profile_verify_months
    cutoff = datetime.now(UTC).replace(microsecond=0) - timedelta(days=months * 365 // 12)
    return await queries.flag_verification_due(cutoff)
