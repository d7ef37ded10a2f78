"""Matching a chunk's rows to members: who is already known (set-based, a few queries per chunk), and the rule.

The rule lives in `Index`: resident ID first, then phone and name, then name and birth date. `merge` applies a
row to a matched person: empty cells never erase what is known, and an import never renames anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from app.components import consents
from app.components.core.crypto import decrypt
from app.components.imports.rows import Row
from app.db import as_date, as_datetime, fetch, marks, typed_param


@dataclass(eq=False)
class Person:
    """A member as a chunk sees it: loaded from the database, or about to be created from a row."""

    id: int | None
    member_no: str | None
    name: str
    gender: str
    birth_date: date | None
    phone_idx: str | None
    id_idx: str | None
    address_enc: str | None
    member_class: str
    organisation: str
    allergy_status: str
    allergy_status_by: int | None
    allergy_status_at: datetime | None
    consents: dict[str, bool]
    allergies: set[str] = field(default_factory=set)
    conditions: set[str] = field(default_factory=set)
    # What this import changes.
    phone: str | None = None
    id_number: str | None = None
    address: str | None = None
    address_known: bool = False
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)
    new_allergies: list[str] = field(default_factory=list)
    new_conditions: list[str] = field(default_factory=list)
    consent_changes: dict[str, bool] = field(default_factory=dict)

    first_row: int = 0

    @property
    def ref(self) -> str:
        """How a rejected row names this person: a member number, or the row of this file that creates them."""
        return self.member_no or f"#{self.first_row}"

    def current_address(self) -> str | None:
        if not self.address_known:
            self.address = decrypt(self.address_enc, "address") if self.address_enc else None
            self.address_known = True
        return self.address


# Values of encrypted fields never go into the change history, only the fact that they changed.
_SECRET_FIELDS = {"phone", "id_number", "address"}


# Reads the member domain's tables set-based (the bulk path the import bench measures).
_CANDIDATES = (
    "SELECT id, member_no, name, gender, birth_date, phone_index, id_number_index, address_enc, member_class,"
    " organisation, allergy_status, allergy_status_by, allergy_status_at, consent_health, consent_marketing_sms,"
    " consent_marketing_wechat, consent_kiosk FROM member WHERE merged_into IS NULL AND "
)


async def candidates(rows: list[Row]) -> list[Person]:
    """Every live member who shares a resident ID, a phone, or a name and birth date with one of `rows`, with
    their allergies and conditions: three queries whatever the chunk size (`Index` then applies the rule).

    Not an OR of one clause per name and birth date: PostgreSQL plans that as one index scan per pair (20,000
    rows: 8.8 s there against 0.5 s for the row-value IN below; the same on SQLite).
    """
    by_id: dict[int, dict] = {}
    phones = sorted({r.phone_idx for r in rows if r.phone_idx})
    ids = sorted({r.id_idx for r in rows if r.id_idx})
    pairs = sorted({(r.name, r.birth_date) for r in rows if r.birth_date})
    if phones:
        by_id.update((m["id"], m) for m in await fetch(_CANDIDATES + "phone_index IN (" + marks(phones) + ")", *phones))
    if ids:
        by_id.update((m["id"], m) for m in await fetch(_CANDIDATES + "id_number_index IN (" + marks(ids) + ")", *ids))
    if pairs:
        # A row-value IN is one index probe per pair on both engines (separate INs on name and on birth date
        # make SQLite probe every name with every date).
        pair_sql = "({}, " + typed_param("date") + ")"
        values = ", ".join(pair_sql for _ in pairs)
        args = [v for pair in pairs for v in pair]
        by_id.update(
            (m["id"], m) for m in await fetch(_CANDIDATES + "(name, birth_date) IN (VALUES " + values + ")", *args)
        )
    if not by_id:
        return []
    member_ids = sorted(by_id)
    found = [by_id[i] for i in member_ids]
    people = {
        m["id"]: Person(
            id=m["id"],
            member_no=m["member_no"],
            name=m["name"],
            gender=m["gender"],
            birth_date=as_date(m["birth_date"]),
            phone_idx=m["phone_index"],
            id_idx=m["id_number_index"],
            address_enc=m["address_enc"],
            member_class=m["member_class"],
            organisation=m["organisation"] or "",
            allergy_status=m["allergy_status"],
            allergy_status_by=m["allergy_status_by"],
            allergy_status_at=as_datetime(m["allergy_status_at"]),
            consents={p: bool(m[consents.COLUMNS[p]]) for p in consents.PURPOSES},
        )
        for m in found
    }
    for a in await fetch(
        "SELECT member, allergen_class FROM allergy WHERE clinical_status = 'active' AND member IN ("
        + marks(member_ids)
        + ")",
        *member_ids,
    ):
        people[a["member"]].allergies.add(a["allergen_class"])
    for c in await fetch(
        "SELECT member, code FROM member_condition WHERE status = 'active' AND member IN (" + marks(member_ids) + ")",
        *member_ids,
    ):
        people[c["member"]].conditions.add(c["code"])
    return list(people.values())


class Index:
    """The chunk's people by matching key, with the bulk matching rule (the one place it lives): resident ID first, then
    phone and name, then name and birth date (a shared phone alone is no identity). Earlier people win a tie,
    so members already in the database come before people this chunk creates. Rows are applied in file order,
    so a later row about a person created by an earlier row of the same chunk updates that person.

    One guard on top: a name and birth date match is not taken when both sides have a phone number (or a
    resident ID) and they differ. Common names share birthdays; overwriting one person's phone with another's
    would be worse than a duplicate, which a pharmacist can merge."""

    def __init__(self) -> None:
        self.by_id: dict[str, Person] = {}
        self.by_phone_name: dict[tuple[str, str], Person] = {}
        self.by_name_birth: dict[tuple[str, date], Person] = {}

    def add(self, p: Person) -> None:
        if p.id_idx:
            self.by_id.setdefault(p.id_idx, p)
        if p.phone_idx:
            self.by_phone_name.setdefault((p.phone_idx, p.name), p)
        if p.birth_date:
            self.by_name_birth.setdefault((p.name, p.birth_date), p)

    def match(self, r: Row) -> Person | None:
        if r.id_idx and (found := self.by_id.get(r.id_idx)):
            return found
        if r.phone_idx and (found := self.by_phone_name.get((r.phone_idx, r.name))):
            return found
        if r.birth_date and (found := self.by_name_birth.get((r.name, r.birth_date))):
            phones_differ = r.phone_idx and found.phone_idx and r.phone_idx != found.phone_idx
            ids_differ = r.id_idx and found.id_idx and r.id_idx != found.id_idx
            if not (phones_differ or ids_differ):
                return found
        return None


def new_person(r: Row) -> Person:
    p = Person(
        first_row=r.row_no,
        id=None,
        member_no=None,
        name=r.name,
        gender=r.gender,
        birth_date=r.birth_date,
        phone_idx=r.phone_idx,
        id_idx=r.id_idx,
        address_enc=None,
        member_class=r.member_class or "member",
        organisation=r.organisation or "",
        allergy_status=r.allergy_status or "unknown",
        allergy_status_by=None,
        allergy_status_at=None,
        consents={p: False for p in consents.PURPOSES},
        phone=r.phone,
        id_number=r.id_number,
        address=r.address,
        address_known=True,
    )
    p.allergies = set(r.allergies)
    p.new_allergies = list(r.allergies)
    p.conditions = set(r.conditions)
    p.new_conditions = list(r.conditions)
    for purpose, granted in r.consents.items():
        if granted:
            p.consents[purpose] = True
            p.consent_changes[purpose] = True
    return p


def merge(p: Person, r: Row) -> bool:
    """Apply a row to a person; True when anything differs. Empty cells never erase what is known, and the
    name is never changed (the person was matched on it, or on the resident ID with the same name)."""
    dirty = False

    def change(name: str, old: Any, new: Any) -> None:
        nonlocal dirty
        dirty = True
        secret = name in _SECRET_FIELDS  # the history says that it changed, never the values
        first_old = p.changed.get(name, ("" if secret else str(old or ""), ""))[0]
        p.changed[name] = (first_old, "" if secret else str(new or ""))

    if r.gender != "U" and r.gender != p.gender:
        change("gender", p.gender, r.gender)
        p.gender = r.gender
    if r.birth_date and r.birth_date != p.birth_date:
        change("birth_date", p.birth_date, r.birth_date)
        p.birth_date = r.birth_date
    if r.phone_idx and r.phone_idx != p.phone_idx:
        change("phone", "", "")
        p.phone, p.phone_idx = r.phone, r.phone_idx
    if r.id_idx and r.id_idx != p.id_idx:
        change("id_number", "", "")
        p.id_number, p.id_idx = r.id_number, r.id_idx
    if r.address and r.address != p.current_address():
        change("address", "", "")
        p.address = r.address
    if r.member_class and r.member_class != p.member_class:
        change("member_class", p.member_class, r.member_class)
        p.member_class = r.member_class
    if r.organisation and r.organisation != p.organisation:
        change("organisation", p.organisation, r.organisation)
        p.organisation = r.organisation
    for code in r.allergies:
        if code not in p.allergies:
            dirty = True
            p.allergies.add(code)
            p.new_allergies.append(code)
    if p.new_allergies and p.allergy_status != "has_allergies":
        change("allergy_status", p.allergy_status, "has_allergies")
        p.allergy_status = "has_allergies"
    if r.allergy_status == "none" and p.allergy_status == "unknown":
        change("allergy_status", p.allergy_status, "none")
        p.allergy_status = "none"
    for code in r.conditions:
        if code not in p.conditions:
            dirty = True
            p.conditions.add(code)
            p.new_conditions.append(code)
    for purpose, granted in r.consents.items():
        if p.consents[purpose] != granted:
            dirty = True
            p.consents[purpose] = granted
            p.consent_changes[purpose] = granted
    return dirty
