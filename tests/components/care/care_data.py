"""Hand-built histories for the care tests: members, products, sales and fills written directly, day by day."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.components import care
from app.components.care.definitions import Definition, Step
from app.db import fetch

ZONE = "Asia/Shanghai"
_numbers = itertools.count(1)


def at_local(day: date, hour: int = 10, minute: int = 0) -> datetime:
    """`day` at `hour:minute` in the chain's zone, as a UTC instant."""
    return datetime.combine(day, time(hour, minute), ZoneInfo(ZONE)).astimezone(UTC)


async def store_id(code: str = "SH001") -> int:
    return (await fetch("SELECT id FROM store WHERE code = {}", code))[0]["id"]


async def staff_id(username: str = "pharmacist") -> int:
    return (await fetch("SELECT id FROM staff WHERE username = {}", username))[0]["id"]


async def member(
    name: str = "王芳",
    *,
    health: bool = True,
    marketing: bool = False,
    birth: date | None = None,
    store: str = "SH001",
    created: datetime | None = None,
    verified: datetime | None = None,
) -> int:
    """A member with the given consents cached on the row (as the consents domain writes them)."""
    n = next(_numbers)
    rows = await fetch(
        "INSERT INTO member (member_no, name, birth_date, home_store, consent_health, consent_marketing_sms,"
        " created_at, verified_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
        f"T{n:07d}",
        name,
        birth,
        await store_id(store),
        health,
        marketing,
        created or datetime.now(UTC),
        verified,
    )
    return rows[0]["id"]


async def product(sku: str, atc: str = "", category: str = "", rx: str = "Rx", days: int = 30) -> int:
    found = await fetch("SELECT id FROM product WHERE sku = {}", sku)
    if found:
        return found[0]["id"]
    rows = await fetch(
        "INSERT INTO product (sku, name_zh, name_en, atc, rx_class, category_l1, price, pack_units, units_per_day)"
        " VALUES ({}, {}, {}, {}, {}, {}, 3000, {}, 1.0) RETURNING id",
        sku,
        "药品" + sku,
        "Drug " + sku,
        atc,
        rx,
        category,
        days,
    )
    return rows[0]["id"]


async def sale(member_id: int, product_id: int, on: datetime, qty: int = 1, days: int | None = 30) -> str:
    """A completed sale of one line, with its medication row (`days` of supply per pack; None: not daily)."""
    n = next(_numbers)
    sale_no = f"S{n:08d}"
    sid = await store_id()
    rows = await fetch(
        "INSERT INTO sale (sale_no, idempotency_key, store, staff, member, subtotal, total, paid, created_at)"
        " VALUES ({}, {}, {}, {}, {}, 3000, 3000, 3000, {}) RETURNING id",
        sale_no,
        f"k{n}",
        sid,
        await staff_id(),
        member_id,
        on,
    )
    line = await fetch(
        "INSERT INTO sale_line (sale, line_no, product, qty, unit_price, total) VALUES ({}, 1, {}, {}, 3000, 3000)"
        " RETURNING id",
        rows[0]["id"],
        product_id,
        qty,
    )
    atc = (await fetch("SELECT atc FROM product WHERE id = {}", product_id))[0]["atc"]
    day = on.astimezone(ZoneInfo(ZONE)).date()
    until = day + timedelta(days=days * qty - 1) if days else None
    await fetch(
        "INSERT INTO medication (member, sale_line, product, atc, qty, started_on, supply_until, store)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
        member_id,
        line[0]["id"],
        product_id,
        atc,
        qty,
        day,
        until,
        sid,
    )
    return sale_no


async def condition(member_id: int, code: str) -> None:
    await fetch("INSERT INTO member_condition (member, code, status) VALUES ({}, {}, 'active')", member_id, code)


async def merge_away(member_id: int, into: int) -> None:
    await fetch("UPDATE member SET merged_into = {} WHERE id = {}", into, member_id)


async def journey(code: str, d: Definition, active: bool = True) -> dict:
    """Save `d` as journey `code` (switched on) and return its current version."""
    return await care.add_journey(code, d, active)


def one_step(trigger: str, params: dict, purpose: str = "care", holdout: int = 0, **step: object) -> Definition:
    s = Step(
        int(step.get("after_days", 0)),  # type: ignore[arg-type]
        str(step.get("at", "10:00")),
        str(step.get("action", "message")),
        template=str(step.get("template", "usage_note")),
        coupon=str(step.get("coupon", "")),
        task_kind=str(step.get("task_kind", "")),
        skip_if=tuple(step.get("skip_if", ())),  # type: ignore[arg-type]
    )
    return Definition("测试", "Test", purpose, trigger, params, (s,), holdout)


async def enrolments(code: str) -> list[dict]:
    return await fetch(
        "SELECT e.member, e.anchor_on, e.ref, e.held_out, e.status, e.next_due_on, e.next_step, e.exit_reason"
        " FROM journey_enrolment e JOIN journey j ON j.id = e.journey WHERE j.code = {} ORDER BY e.member, e.ref",
        code,
    )
