"""Issuing coupons to members: HQ and the worker to anyone, a store's staff only to their own store's members;
once per source key (a journey step or campaign never issues twice) and within the template's per-member limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from app.components import audit
from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.core.errors import ValidationFailed
from app.components.coupons import queries
from app.components.coupons.codes import new_code
from app.components.coupons.templates import TemplateView, get_template
from app.db import as_date, transaction
from app.i18n import _

SOURCES = ("journey", "campaign", "birthday", "printed", "manual")
COUPON_ISSUE = "coupon.issue"


def validity(t: TemplateView, today: date) -> tuple[date | None, date | None]:
    """A new coupon's window: `valid_days` from today (within the template's window), else the template's window."""
    if t.valid_days:
        start = max(today, t.valid_from) if t.valid_from else today
        end = start + timedelta(days=t.valid_days - 1)
        return start, min(end, t.valid_to) if t.valid_to else end
    return t.valid_from, t.valid_to


@dataclass(frozen=True)
class Issued:
    """A coupon as issued."""

    code: str
    valid_from: date | None
    valid_to: date | None


async def _check_member_store(member_id: int, actor: StaffUser | None) -> None:
    """A store's staff issue only to their own store's members (HQ and the worker to anyone). Another store's
    member is "not found" for them, as everywhere else a store sees only its own members."""
    if actor is None or actor.store_id is None:
        return
    row = await queries.member_store(member_id)
    if row is None or row["home_store"] != actor.store_id:
        raise ValidationFailed(
            {"member_no": _("No member %(no)s in your store.") % {"no": row["member_no"] if row else member_id}}
        )


async def issue(
    template_code: str, member_id: int, source: str, source_key: str | None, actor: StaffUser | None
) -> Issued:
    """Give a member a coupon. Idempotent by `source_key` (the same journey step or campaign never issues twice);
    ValidationFailed when the template is inactive, the member holds its per-member limit, or the member belongs
    to another store than the issuing store staff's own."""

    t = await get_template(template_code)
    await _check_member_store(member_id, actor)
    if source_key:
        found = await queries.by_source_key(source_key)
        if found:
            return _issued(found)
    if not t.active:
        raise ValidationFailed({"template": _("Coupon template %(code)s is no longer active.") % {"code": t.code}})
    today = store_today()
    start, end = validity(t, today)
    async with transaction():
        if t.per_member_limit:
            # Serialise issues to one member.
            await queries.lock_member(member_id)
            held = await queries.held_count(t.id, member_id)
            if held >= t.per_member_limit:
                raise ValidationFailed(
                    {"member_no": _("This member already has %(n)s of this coupon (the limit).") % {"n": held}}
                )
        code = new_code()
        row = await queries.insert_coupon(
            code, t.id, member_id, source if source in SOURCES else "manual", source_key, start, end, datetime.now(UTC)
        )
        if row is None:  # a concurrent call with the same key won
            found = await queries.by_source_key(source_key)  # type: ignore[arg-type]
            assert found is not None
            return _issued(found)
        if actor is not None:
            await audit.record(actor, COUPON_ISSUE, member_id, f"{t.code} {code}")
    return Issued(code, start, end)


def _issued(row: dict) -> Issued:
    return Issued(row["code"], as_date(row["valid_from"]), as_date(row["valid_to"]))
