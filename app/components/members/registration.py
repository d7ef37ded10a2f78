"""Registration: what a new member's form accepts, the likely-duplicate stop, and the new member's row."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime

from app.components import audit, events, timeline
from app.components.core.actor import StaffUser
from app.components.core.clock import age_on, store_today
from app.components.core.crypto import encrypt
from app.components.core.errors import ValidationFailed
from app.components.members import duplicates
from app.components.members.fields import GENDERS, MEMBER_CLASSES
from app.components.members.lookup import MemberView, get_member
from app.components.members.numbers import (
    id_number_index,
    mask_phone,
    member_no_for,
    next_serials,
    normalize_phone,
    parse_id_number,
    phone_index,
)
from app.components.members.queries import member as queries
from app.db import transaction
from app.i18n import N_, _


@dataclass
class NewMember:
    """What registration accepts (and what an import row carries); every field is the text as typed."""

    name: str = ""
    gender: str = "U"
    birth_date: str = ""
    phone: str = ""
    store_code: str = ""
    address: str = ""
    id_number: str = ""
    member_class: str = "member"
    organisation: str = ""
    # A staff id (as text) of a pharmacist of the member's home store.
    responsible_pharmacist: str = ""


def _check_birth_date(raw: str, errors: dict[str, str]) -> date | None:
    try:
        birth = date.fromisoformat(raw.strip())
    except ValueError:
        errors["birth_date"] = _("Enter the birth date as YYYY-MM-DD.")
        return None
    today = store_today()
    if birth > today:
        errors["birth_date"] = _("The birth date cannot be in the future.")
    elif (age_on(birth, today) or 0) > 120:
        errors["birth_date"] = _("The birth date is more than 120 years ago.")
    return birth


def validate_new_member(data: NewMember, pharmacists: Collection[int] | None = None) -> tuple[dict[str, str], dict]:
    """Field errors and the cleaned values.

    `pharmacists` are the staff ids that may be the member's responsible pharmacist (the pharmacists of the
    home store, see `store_pharmacists`); without it only the id's form is checked. With a resident ID number
    and no birth date, the birth date is taken from the ID; with both, they must agree.
    """
    errors: dict[str, str] = {}
    clean: dict = {}
    name = (data.name or "").strip()
    if not name:
        errors["name"] = _("Enter the member's name.")
    elif len(name) > 60:
        errors["name"] = _("The name is too long (60 characters at most).")
    clean["name"] = name
    gender = (data.gender or "U").strip().upper()
    if gender not in GENDERS:
        errors["gender"] = _("Choose male, female or not stated.")
    clean["gender"] = gender
    clean["birth_date"] = _check_birth_date(data.birth_date, errors) if (data.birth_date or "").strip() else None
    clean["phone"] = None
    if data.phone and data.phone.strip():
        phone = normalize_phone(data.phone)
        if phone is None:
            errors["phone"] = _("Enter a valid mainland China mobile number (11 digits, starting with 1).")
        clean["phone"] = phone
    address = re.sub(r"\s+", " ", data.address or "").strip()
    if len(address) > 200:
        errors["address"] = _("The address is too long (200 characters at most).")
    clean["address"] = address or None
    clean["id_number"] = None
    if (data.id_number or "").strip():
        number, id_birth, message = parse_id_number(data.id_number)
        if message:
            errors["id_number"] = message
        else:
            clean["id_number"] = number
            if not (data.birth_date or "").strip():
                clean["birth_date"] = id_birth
            elif "birth_date" not in errors and clean["birth_date"] != id_birth:
                errors["id_number"] = _(
                    "The birth date in the resident ID number (%(date)s) does not match the birth date entered."
                ) % {"date": id_birth.isoformat()}
    member_class = (data.member_class or "member").strip()
    if member_class not in MEMBER_CLASSES:
        errors["member_class"] = _("Choose regular customer, member or key account.")
    clean["member_class"] = member_class
    organisation = (data.organisation or "").strip()
    if len(organisation) > 100:
        errors["organisation"] = _("The organisation's name is too long (100 characters at most).")
    elif member_class == "key_account" and not organisation:
        errors["organisation"] = _("A key account needs the name of its institution or company.")
    clean["organisation"] = organisation
    clean["responsible_pharmacist"] = None
    raw_pharmacist = str(data.responsible_pharmacist or "").strip()
    if raw_pharmacist:
        if not raw_pharmacist.isdigit() or (pharmacists is not None and int(raw_pharmacist) not in pharmacists):
            errors["responsible_pharmacist"] = _("Choose a pharmacist of the member's store.")
        else:
            clean["responsible_pharmacist"] = int(raw_pharmacist)
    return errors, clean


async def store_pharmacists(store_id: int | None) -> dict[int, str]:
    """The active pharmacists of a store, id → display name (who may be a member's responsible pharmacist)."""
    if store_id is None:
        return {}
    return await queries.store_pharmacists(store_id)


class DuplicatesFound(Exception):
    """Registration stopped because likely duplicates exist; the caller shows them and may insist."""

    def __init__(self, duplicates: list) -> None:
        super().__init__(f"{len(duplicates)} likely duplicate(s)")
        self.duplicates = duplicates


async def likely_duplicates(clean: dict, exclude_member_id: int | None = None) -> list:
    """Members who are probably the same person (same phone, same ID number, or same name and birth date).

    The matching rules live in `duplicates`; each result has `.member_no`, `.name`, `.reasons`.
    """
    return await duplicates.likely_duplicates(
        clean.get("phone"),
        clean.get("id_number"),
        clean.get("name"),
        clean.get("birth_date"),
        exclude_member_id=exclude_member_id,
    )


async def register(data: NewMember, actor: StaffUser, allow_duplicates: bool = True) -> MemberView:
    """Create a member at the actor's store (HQ names a store); returns the new member's view.

    With `allow_duplicates=False` nothing is saved when likely duplicates exist: `DuplicatesFound` lists them.
    """
    store_errors: dict[str, str] = {}
    store_id = actor.store_id
    if data.store_code:
        store_id = await queries.store_id_by_code(data.store_code)
        if store_id is None:
            store_errors["store"] = _("No store with code %(code)s.") % {"code": data.store_code}
    elif store_id is None:
        store_errors["store"] = _("Name the member's home store.")
    pharmacists = await store_pharmacists(store_id) if store_id is not None else None
    errors, clean = validate_new_member(data, pharmacists=pharmacists)
    errors.update(store_errors)
    if errors:
        raise ValidationFailed(errors)
    if not allow_duplicates:
        duplicates = await likely_duplicates(clean)
        if duplicates:
            raise DuplicatesFound(duplicates)
    phone, id_number, address = clean["phone"], clean["id_number"], clean["address"]
    now = datetime.now(UTC)
    async with transaction():
        serial = await next_serials("member")
        member_no = member_no_for(serial)
        values = {
            "member_no": member_no,
            "name": clean["name"],
            "gender": clean["gender"],
            "birth_date": clean["birth_date"],
            "phone_enc": encrypt(phone, "phone") if phone else None,
            "phone_index": phone_index(phone) if phone else None,
            "phone_masked": mask_phone(phone),
            "id_number_enc": encrypt(id_number, "id_number") if id_number else None,
            "id_number_index": id_number_index(id_number) if id_number else None,
            "address_enc": encrypt(address, "address") if address else None,
            "member_class": clean["member_class"],
            "organisation": clean["organisation"],
            "responsible_pharmacist": clean["responsible_pharmacist"],
        }
        new_id = await queries.insert_member(values, store_id, now, actor.id)
        await audit.record(actor, audit.MEMBER_CREATE, member_id=new_id)
        await timeline.record_event(
            new_id,
            timeline.REGISTERED,
            timeline.message(
                N_("Registered as %(class)s"), **{"class": timeline.Label("member_class", clean["member_class"])}
            ),
            actor,
            ref=member_no,
        )
        await events.record(
            f"member.registered:{new_id}", events.MEMBER_REGISTERED, new_id, store_id, {"member_no": member_no}, now
        )
    return await get_member(member_no, actor, detail="after-create")
