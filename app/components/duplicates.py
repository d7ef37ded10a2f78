"""Likely duplicates: the same phone, the same resident ID, or the same name and birth date."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from app.components import members
from app.components.crypto import blind_index
from app.components.members import normalize_phone
from app.db import fetch
from app.i18n import _

# Reason codes; `DuplicateMatch.reasons` holds their labels in the current language.
SAME_PHONE = "phone"
SAME_ID_NUMBER = "id_number"
SAME_NAME_BIRTH = "name_birth"
MAX_MATCHES = 20
# Rows per query in `match_many`: four parameters a row stays under SQLite's oldest limit of 999.
MATCH_CHUNK = 200


def reason_label(code: str) -> str:
    """A reason code in the current language."""
    return {
        SAME_PHONE: _("same phone"),
        SAME_ID_NUMBER: _("same resident ID"),
        SAME_NAME_BIRTH: _("same name and birth date"),
    }.get(code, code)


def normalize_id_number(raw: str | None) -> str | None:
    """A resident ID as it is encrypted and indexed: no spaces, upper case (the final X), or None when blank."""
    return members.normalize_id_number(raw) or None


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
    clauses, args = [], []
    if p_key:
        clauses.append("m.phone_index = {}")
        args.append(p_key)
    if i_key:
        clauses.append("m.id_number_index = {}")
        args.append(i_key)
    if name and birth_date:
        clauses.append("(m.name = {} AND m.birth_date = {})")
        args.extend([name, birth_date])
    if not clauses:
        return []
    where = "m.merged_into IS NULL AND (" + " OR ".join(clauses) + ")"
    if exclude_member_id:
        where += " AND m.id <> {}"
        args.append(exclude_member_id)
    rows = await fetch(
        "SELECT m.id, m.member_no, m.name, m.birth_date, m.phone_masked, m.phone_index, m.id_number_index,"
        f" st.name AS home_store FROM member m LEFT JOIN store st ON st.id = m.home_store WHERE {where}"
        f" ORDER BY m.id LIMIT {MAX_MATCHES}",
        *args,
    )
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


MatchRow = tuple[str | None, str | None, str | None, date | None]


async def match_many(rows: Sequence[MatchRow]) -> dict[int, int]:
    """Match many rows (phone_index, id_number_index, name, birth_date) to live members: position → member id.

    One query per chunk of rows. A row matches by resident ID; failing that by phone *and* name; failing that by
    name and birth date. A phone alone is not an identity (a family often shares one), so it matches nothing.
    Rows that match nobody are absent from the result.
    """
    result: dict[int, int] = {}
    for start in range(0, len(rows), MATCH_CHUNK):
        chunk = list(enumerate(rows[start : start + MATCH_CHUNK], start=start))
        phones = sorted({r[0] for _, r in chunk if r[0]})
        ids = sorted({r[1] for _, r in chunk if r[1]})
        pairs = sorted({((r[2] or "").strip(), r[3]) for _, r in chunk if (r[2] or "").strip() and r[3]})
        clauses, args = [], []
        if phones:
            clauses.append("phone_index IN (" + ", ".join("{}" for _ in phones) + ")")
            args.extend(phones)
        if ids:
            clauses.append("id_number_index IN (" + ", ".join("{}" for _ in ids) + ")")
            args.extend(ids)
        for name, birth in pairs:
            clauses.append("(name = {} AND birth_date = {})")
            args.extend([name, birth])
        if not clauses:
            continue
        found = await fetch(
            "SELECT id, phone_index, id_number_index, name, birth_date FROM member"
            " WHERE merged_into IS NULL AND (" + " OR ".join(clauses) + ") ORDER BY id",
            *args,
        )
        by_id: dict[str, int] = {}
        by_phone_name: dict[tuple[str, str], int] = {}
        by_name_birth: dict[tuple[str, date], int] = {}
        for m in found:  # lowest id first: the oldest record wins a tie
            if m["id_number_index"]:
                by_id.setdefault(m["id_number_index"], m["id"])
            if m["phone_index"]:
                by_phone_name.setdefault((m["phone_index"], m["name"]), m["id"])
            if m["birth_date"]:
                by_name_birth.setdefault((m["name"], m["birth_date"]), m["id"])
        for pos, (p_idx, i_idx, raw_name, birth) in chunk:
            name = (raw_name or "").strip()
            hit = (
                (by_id.get(i_idx) if i_idx else None)
                or (by_phone_name.get((p_idx, name)) if p_idx and name else None)
                or (by_name_birth.get((name, birth)) if name and birth else None)
            )
            if hit:
                result[pos] = hit
    return result
