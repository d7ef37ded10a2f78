"""The SQL of the consent ledger (consent_event) and of the member row's consent cache: the only module writing it.

The cache columns (`member.consent_*`) are kept here, next to the ledger they summarise; `member_id_by_no` reads
the members domain's table for the row id of a live member number (consents sits below members).
"""

from __future__ import annotations

from datetime import datetime

from app.db import fetch, marks

# Purpose → the cached column on `member`.
CACHE_COLUMNS = {
    "health_data": "consent_health",
    "marketing_sms": "consent_marketing_sms",
    "marketing_wechat": "consent_marketing_wechat",
    "kiosk_display": "consent_kiosk",
}
_SET_CACHE = {
    purpose: "UPDATE member SET " + column + " = {} WHERE id = {}" for purpose, column in CACHE_COLUMNS.items()
}
# Every cache column recomputed from the ledger's latest row for its purpose (none: not granted).
_REFRESH_SETS = ", ".join(
    column + " = COALESCE((SELECT c.granted FROM consent_event c WHERE c.member = member.id"
    " AND c.purpose = {} ORDER BY c.at DESC, c.id DESC LIMIT 1), {})"
    for column in CACHE_COLUMNS.values()
)

_LEDGER_SQL = (
    "SELECT c.purpose, c.granted, c.at, c.channel, c.text_version, s.display_name AS staff"
    " FROM consent_event c LEFT JOIN staff s ON s.id = c.staff WHERE c.member = {}"
)


async def append(
    member_id: int, purpose: str, granted: bool, at: datetime, channel: str, staff_id: int | None, text_version: str
) -> int:
    """One grant or withdrawal, appended to the ledger (never an update); its id."""
    rows = await fetch(
        "INSERT INTO consent_event (member, purpose, granted, at, channel, staff, text_version)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}) RETURNING id",
        member_id,
        purpose,
        granted,
        at,
        channel,
        staff_id,
        text_version,
    )
    return rows[0]["id"]


async def set_cache(member_id: int, purpose: str, granted: bool) -> None:
    """The cached state of one purpose on the member row (purposes without a cached column: nothing)."""
    if purpose in _SET_CACHE:
        await fetch(_SET_CACHE[purpose], granted, member_id)


async def ledger(member_id: int, newest_first: bool = False) -> list[dict]:
    """The member's ledger rows with the staff's name, oldest first (or newest first)."""
    if newest_first:
        return await fetch(_LEDGER_SQL + " ORDER BY c.at DESC, c.id DESC", member_id)
    return await fetch(_LEDGER_SQL + " ORDER BY c.at, c.id", member_id)


async def health_consent_cached(member_id: int) -> bool:
    """The cached health-data consent of a member (False when there is no such member)."""
    rows = await fetch("SELECT consent_health FROM member WHERE id = {}", member_id)
    return bool(rows and rows[0]["consent_health"])


async def member_id_by_no(member_no: str) -> int | None:
    """The row id of a live (not merged) member number."""
    rows = await fetch("SELECT id FROM member WHERE member_no = {} AND merged_into IS NULL", member_no)
    return rows[0]["id"] if rows else None


async def latest_grant(member_id: int, purpose: str) -> bool | None:
    """The latest ledger answer for a purpose of a live member; None when never asked or merged away."""
    rows = await fetch(
        "SELECT c.granted FROM consent_event c JOIN member m ON m.id = c.member"
        " WHERE c.member = {} AND c.purpose = {} AND m.merged_into IS NULL ORDER BY c.at DESC, c.id DESC LIMIT 1",
        member_id,
        purpose,
    )
    return bool(rows[0]["granted"]) if rows else None


async def refresh_cache(member_ids: list[int]) -> None:
    """Recompute every cached consent column of these members from the ledger."""
    args: list = []
    for purpose in CACHE_COLUMNS:
        args.extend([purpose, False])
    await fetch("UPDATE member SET " + _REFRESH_SETS + " WHERE id IN (" + marks(member_ids) + ")", *args, *member_ids)
