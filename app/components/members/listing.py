"""The member list: a store's members for store roles, the chain's for HQ; search by name, number or phone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from app.components.core.actor import StaffUser
from app.components.core.clock import age_on, store_today
from app.components.core.roles import HQ_ROLES
from app.components.members.numbers import normalize_phone, phone_index
from app.components.members.queries import member as queries
from app.db import as_date

PER_PAGE = 50


@dataclass(frozen=True)
class MemberRow:
    """One line of the list (no health data, the phone masked)."""

    member_no: str
    name: str
    gender: str
    age: int | None
    phone_masked: str
    home_store: str | None
    created_at: datetime | None
    verification_due: bool


@dataclass(frozen=True)
class MemberPage:
    """One page of the list."""

    rows: list[MemberRow]
    page: int
    per_page: int
    has_next: bool
    query: str
    kind: str  # "" (browse) | name | member_no | phone
    chain_wide: bool


def _like_prefix(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


async def search(actor: StaffUser, query: str = "", page: int = 1, per_page: int = PER_PAGE) -> MemberPage:
    """Live (not merged) members in the actor's scope matching `query`, one page at a time.

    `query`: a phone number (exact, through the blind index), digits (a member-number prefix) or a name prefix.
    """
    page = max(1, page)
    chain_wide = actor.role in HQ_ROLES
    clauses, args = ["m.merged_into IS NULL"], []
    if not chain_wide:
        clauses.append("m.home_store = {}")
        args.append(actor.store_id or -1)
    query = (query or "").strip()
    compact = re.sub(r"[\s\-()]", "", query)
    kind, order = "", "newest"
    if query:
        phone = normalize_phone(compact) if re.fullmatch(r"\+?\d{11,13}", compact) else None
        if phone:
            kind = "phone"
            clauses.append("m.phone_index = {}")
            args.append(phone_index(phone))
        elif compact.isdigit():
            kind = "member_no"
            clauses.append("m.member_no LIKE {}")
            args.append(_like_prefix(compact))
            order = "member_no"
        else:
            kind = "name"
            clauses.append("m.name LIKE {} ESCAPE '\\'")
            args.append(_like_prefix(query))
            order = "name"
    rows = await queries.list_page(clauses, args, order, per_page + 1, (page - 1) * per_page)
    today = store_today()
    items = [
        MemberRow(
            member_no=r["member_no"],
            name=r["name"],
            gender=r["gender"],
            age=age_on(as_date(r["birth_date"]), today),
            phone_masked=r["phone_masked"] or "",
            home_store=r["home_store"],
            created_at=r["created_at"],
            verification_due=bool(r["verification_due"]),
        )
        for r in rows[:per_page]
    ]
    return MemberPage(
        rows=items,
        page=page,
        per_page=per_page,
        has_next=len(rows) > per_page,
        query=query,
        kind=kind,
        chain_wide=chain_wide,
    )
