"""SQL of the counter cart (`cart`) and its applied change keys (`cart_change`).

Every scan reads the open cart in one round trip, with its member's and pending member's number and name and
whether its key already made a sale; the statements' text is as the bench measured it.
"""

from __future__ import annotations

from datetime import datetime

from app.db import fetch

_COLUMNS = (
    "c.id, c.key, c.store, c.staff, c.member, c.lines, c.coupon_codes, c.prescription, c.override, c.status, c.sale,"
    " c.device, c.tender, c.pending_member, m.member_no, m.name AS member_name, pm.member_no AS pending_member_no,"
    " pm.name AS pending_member_name"
)
_FROM = " FROM cart c LEFT JOIN member m ON m.id = c.member LEFT JOIN member pm ON pm.id = c.pending_member"
_CART_SQL = "SELECT " + _COLUMNS + _FROM
# The open cart and, in the same round trip, whether its key already made a sale (a checkout whose cart was never
# closed): `current`, `claim_member` and `mutate` read both on every scan.
_OPEN_SQL = (
    "SELECT " + _COLUMNS + ", (SELECT s.id FROM sale s WHERE s.idempotency_key = c.key) AS sold" + _FROM + " WHERE"
    " c.staff = {} AND c.store = {} AND c.device = {} AND c.status = 'open' ORDER BY c.id DESC LIMIT 1"
)


async def open_cart(staff_id: int, store_id: int, device_id: int) -> dict | None:
    """The open cart's row of (staff, store, tablet), with `sold` (the id of the sale its key made, else None)."""
    rows = await fetch(_OPEN_SQL, staff_id, store_id, device_id)
    return rows[0] if rows else None


async def cart_by_key(key: str, staff_id: int, device_id: int) -> dict | None:
    rows = await fetch(_CART_SQL + " WHERE c.key = {} AND c.staff = {} AND c.device = {}", key, staff_id, device_id)
    return rows[0] if rows else None


async def insert_cart(
    key: str, store_id: int, staff_id: int, member_id: int | None, device_id: int, now: datetime
) -> None:
    """A fresh open cart (empty lines, no coupons, approvals or tender)."""
    await fetch(
        "INSERT INTO cart (key, store, staff, member, lines, coupon_codes, prescription, override, status, sale,"
        " created_at, updated_at, device, tender, pending_member, parked_at, expires_at)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, 'open', NULL, {}, {}, {}, {}, NULL, NULL, NULL)",
        key,
        store_id,
        staff_id,
        member_id,
        "[]",
        "[]",
        "{}",
        "{}",
        now,
        now,
        device_id,
        "{}",
    )


async def insert_change(cart_id: int, key: str, action: str, at: datetime) -> bool:
    """Record a change key as applied; False when it was applied before (the key is unique over all carts)."""
    rows = await fetch(
        "INSERT INTO cart_change (cart, key, action, created_at) VALUES ({}, {}, {}, {}) ON CONFLICT DO NOTHING"
        " RETURNING id",
        cart_id,
        key,
        action,
        at,
    )
    return bool(rows)


async def mark_done(cart_id: int) -> None:
    await fetch("UPDATE cart SET status = 'done' WHERE id = {}", cart_id)


async def update_cart(
    cart_id: int,
    member_id: int | None,
    lines: str,
    coupon_codes: str,
    prescription: str,
    override: str,
    tender: str,
    pending_member_id: int | None,
    at: datetime,
) -> None:
    """Write what a change changes (JSON columns as text)."""
    await fetch(
        "UPDATE cart SET member = {}, lines = {}, coupon_codes = {}, prescription = {}, override = {}, tender = {},"
        " pending_member = {}, updated_at = {} WHERE id = {}",
        member_id,
        lines,
        coupon_codes,
        prescription,
        override,
        tender,
        pending_member_id,
        at,
        cart_id,
    )


async def member_no_and_name(member_id: int) -> tuple[str | None, str]:
    """The number and name of a member on a cart (shown on the counter)."""
    rows = await fetch("SELECT member_no, name FROM member WHERE id = {}", member_id)
    return (rows[0]["member_no"], rows[0]["name"]) if rows else (None, "")


async def claim_member_swap(
    member_id: int, override: str, at: datetime, staff_id: int, store_id: int, device_id: int
) -> list[dict]:
    """Put the member on the open cart of (staff, store, tablet) in one compare-and-swap statement, unless there is
    none, its key already made a sale, the member is already on it or it holds another member's lines: the cart's
    row as it is now, or [] (nothing changed)."""
    return await fetch(
        "UPDATE cart SET member = {}, override = {}, pending_member = NULL, updated_at = {} WHERE id ="
        " (SELECT c.id FROM cart c WHERE c.staff = {} AND c.store = {} AND c.device = {} AND c.status = 'open'"
        " ORDER BY c.id DESC LIMIT 1) AND member IS NOT {} AND (member IS NULL OR lines = '[]')"
        " AND NOT EXISTS (SELECT 1 FROM sale s WHERE s.idempotency_key = cart.key)"
        " RETURNING id, key, store, staff, member, lines, coupon_codes, prescription, override, status, sale,"
        " device, tender, pending_member",
        member_id,
        override,
        at,
        staff_id,
        store_id,
        device_id,
        member_id,
    )


async def store_timezone(store_id: int) -> str | None:
    """The store's time zone (its held sales expire at its day end)."""
    rows = await fetch("SELECT timezone FROM store WHERE id = {}", store_id)
    return rows[0]["timezone"] if rows else None


async def park(cart_id: int, now: datetime, expires_at: datetime) -> None:
    """Hold an open cart in the store's held-sales list until `expires_at`."""
    await fetch(
        "UPDATE cart SET status = 'parked', parked_at = {}, expires_at = {}, pending_member = NULL, updated_at = {}"
        " WHERE id = {} AND status = 'open'",
        now,
        expires_at,
        now,
        cart_id,
    )


async def open_carts_on_tablet_of(staff_id: int, store_id: int, device_id: int) -> list[dict]:
    """The open carts (id, store, lines as text) of a person on a tablet."""
    return await fetch(
        "SELECT id, store, CAST(lines AS TEXT) AS lines FROM cart WHERE status = 'open' AND staff = {} AND store = {}"
        " AND device = {}",
        staff_id,
        store_id,
        device_id,
    )


async def open_carts_on_tablet(device_id: int) -> list[dict]:
    """The open carts (id, store, lines as text) of a tablet, whoever's."""
    return await fetch(
        "SELECT id, store, CAST(lines AS TEXT) AS lines FROM cart WHERE status = 'open' AND device = {}", device_id
    )


async def abandon_cart(cart_id: int, at: datetime) -> None:
    await fetch("UPDATE cart SET status = 'abandoned', updated_at = {} WHERE id = {}", at, cart_id)


async def abandon_open(staff_id: int, store_id: int, device_id: int, at: datetime) -> None:
    """Give up the open cart of (staff, store, tablet)."""
    await fetch(
        "UPDATE cart SET status = 'abandoned', updated_at = {} WHERE staff = {} AND store = {} AND device = {}"
        " AND status = 'open'",
        at,
        staff_id,
        store_id,
        device_id,
    )


async def close(cart_id: int, key: str, at: datetime) -> None:
    """The open cart became the sale its key made."""
    await fetch(
        "UPDATE cart SET status = 'done', sale = (SELECT id FROM sale WHERE idempotency_key = {}), updated_at = {}"
        " WHERE id = {} AND status = 'open'",
        key,
        at,
        cart_id,
    )


async def expire_held(store_id: int, now: datetime) -> None:
    await fetch(
        "UPDATE cart SET status = 'expired' WHERE store = {} AND status = 'parked' AND expires_at <= {}",
        store_id,
        now,
    )


async def held_count(store_id: int, now: datetime) -> int:
    rows = await fetch(
        "SELECT COUNT(*) AS n FROM cart WHERE store = {} AND status = 'parked' AND expires_at > {}",
        store_id,
        now,
    )
    return int(rows[0]["n"])


async def held(store_id: int, expired_since: datetime, limit: int) -> list[dict]:
    """The store's parked carts, then those expired since `expired_since`, with staff, tablet and member names."""
    return await fetch(
        "SELECT c.id, c.key, c.status, CAST(c.lines AS TEXT) AS lines, CAST(c.coupon_codes AS TEXT) AS coupon_codes,"
        " c.parked_at, c.expires_at, s.display_name AS staff_name, d.name AS device_name, m.member_no,"
        " m.name AS member_name FROM cart c JOIN staff s ON s.id = c.staff"
        " LEFT JOIN counter_device d ON d.id = c.device LEFT JOIN member m ON m.id = c.member WHERE c.store = {}"
        " AND (c.status = 'parked' OR (c.status = 'expired' AND c.expires_at > {}))"
        " ORDER BY c.status DESC, c.parked_at DESC, c.id DESC LIMIT " + str(int(limit)),
        store_id,
        expired_since,
    )


async def held_state(cart_id: int, store_id: int) -> dict | None:
    """Status and expiry of a cart of the store."""
    rows = await fetch("SELECT status, expires_at FROM cart WHERE id = {} AND store = {}", cart_id, store_id)
    return rows[0] if rows else None


async def take_held(cart_id: int, store_id: int, staff_id: int, device_id: int, at: datetime) -> bool:
    """Reopen a parked cart of the store on this person's tablet; False when it is not parked (any more)."""
    rows = await fetch(
        "UPDATE cart SET status = 'open', staff = {}, device = {}, parked_at = NULL, expires_at = NULL,"
        " updated_at = {} WHERE id = {} AND store = {} AND status = 'parked' RETURNING id",
        staff_id,
        device_id,
        at,
        cart_id,
        store_id,
    )
    return bool(rows)


async def overrides_of_member(member_id: int) -> list[dict]:
    """(id, override as text) of the member's open and held carts."""
    return await fetch(
        "SELECT id, CAST(override AS TEXT) AS override FROM cart WHERE member = {} AND status IN ('open', 'parked')",
        member_id,
    )


async def set_override(cart_id: int, override: str, at: datetime) -> None:
    await fetch("UPDATE cart SET override = {}, updated_at = {} WHERE id = {}", override, at, cart_id)
