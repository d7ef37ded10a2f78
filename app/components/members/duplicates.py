"""Likely duplicates: the same phone, the same resident ID, or the same name and birth date."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from app.components.core.crypto import blind_index
from app.components.members.numbers import normalize_id_number, normalize_phone
from app.components.members.queries import member as queries
from app.i18n import _

# Reason codes; `DuplicateMatch.reasons` holds their labels in the current language.
SAME_PHONE = "phone"
SAME_ID_NUMBER = "id_number"
SAME_NAME_BIRTH = "name_birth"
MAX_MATCHES = 20


def reason_label(code: str) -> str:
    """A reason code in the current language."""
    return {
        SAME_PHONE: _("same phone"),
        SAME_ID_NUMBER: _("same resident ID"),
        SAME_NAME_BIRTH: _("same name and birth date"),
    }.get(code, code)


def phone_key(raw: str | None) -> str | None:
    """The blind index of a phone number (normalised to 11 digits), or None when it is not a valid mobile."""
    phone = normalize_phone(raw or "")
    return blind_index(phone, "phone") if phone else None


def id_number_key(raw: str | None) -> str | None:
    """The blind index of a resident ID number (upper-cased), or None when blank."""
    value = normalize_id_number(raw)
    return blind_index(value, "id_number") if value else None


@dataclass
class DuplicateMatch:
    """An existing member who may be the person being registered or imported."""

    member_no: str
    name: str
    birth_date: date | None
    phone_masked: str
    reasons: list[str]
    codes: list[str] = field(default_factory=list)
    member_id: int = 0
    home_store: str | None = None


async def likely_duplicates(
    phone: str | None,
    id_number: str | None,
    name: str,
    birth_date: date | None,
    exclude_member_id: int | None = None,
) -> list[DuplicateMatch]:
    """Live (not merged) members sharing the phone, the resident ID, or the name and birth date; strongest first."""
    p_key = phone_key(phone)
    i_key = id_number_key(id_number)
    name = (name or "").strip()
    rows = await queries.duplicate_candidates(p_key, i_key, name, birth_date, exclude_member_id, MAX_MATCHES)
    found = []
    for r in rows:
        codes = []
        if i_key and r["id_number_index"] == i_key:
            codes.append(SAME_ID_NUMBER)
        if p_key and r["phone_index"] == p_key:
            codes.append(SAME_PHONE)
        if name and birth_date and r["name"] == name and r["birth_date"] == birth_date:
            codes.append(SAME_NAME_BIRTH)
        found.append(
            DuplicateMatch(
                member_no=r["member_no"],
                name=r["name"],
                birth_date=r["birth_date"],
                phone_masked=r["phone_masked"] or "",
                reasons=[reason_label(c) for c in codes],
                codes=codes,
                member_id=r["id"],
                home_store=r["home_store"],
            )
        )
    # An ID match is near-certain, then more reasons before fewer.
    found.sort(key=lambda m: (SAME_ID_NUMBER not in m.codes, -len(m.codes)))
    return found
