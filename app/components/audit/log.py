"""The audit trail: append-only events for health-data views and sensitive actions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.components.audit import queries
from app.components.core.actor import StaffUser
from app.i18n import _

ALLERGY_VIEW = "allergy.view"
MEMBER_CREATE = "member.create"
ALLERGY_RECORD = "allergy.record"
ALLERGY_NONE = "allergy.none_known"
LOGIN = "auth.login"
LOGOUT = "auth.logout"
LOGIN_LOCKED = "auth.locked"
PIN_FAILED = "sale.pin_failed"  # an approval PIN refused at a counter (app.components.pin_lock)
PIN_LOCKED = "sale.pin_locked"  # an approver's PIN locked after repeated wrong tries


def action_label(action: str) -> str:
    """An audit action's name in the current language."""
    return {
        ALLERGY_VIEW: _("Viewed allergies"),
        MEMBER_CREATE: _("Registered member"),
        ALLERGY_RECORD: _("Recorded allergy"),
        ALLERGY_NONE: _("Recorded no known allergies"),
        LOGIN: _("Logged in"),
        LOGOUT: _("Logged out"),
        "member.phone_reveal": _("Revealed phone number"),
        "member.import": _("Imported members"),
        "member.export": _("Exported members"),
        "member.export_full": _("Exported members with full personal data"),
        "member.details_view": _("Viewed member details"),
        "member.edit": _("Edited member details"),
        "member.verify": _("Confirmed member details"),
        "member.merge": _("Merged members"),
        "member.merge_undo": _("Undid a merge"),
        "member.merge_preview": _("Compared members for a merge"),
        "health.view": _("Viewed health record"),
        "vitals.view": _("Viewed vitals"),
        "timeline.view": _("Viewed timeline"),
        "condition.record": _("Recorded condition"),
        "condition.confirm": _("Confirmed condition"),
        "condition.resolve": _("Resolved condition"),
        "vital.record": _("Recorded vital sign"),
        "allergy.change": _("Changed allergy"),
        "consent.view": _("Viewed consents"),
        "consent.grant": _("Consent granted"),
        "consent.withdraw": _("Consent withdrawn"),
        "household.view": _("Viewed household"),
        "household.change": _("Changed household"),
        LOGIN_LOCKED: _("Login locked out"),
        "sale.allergy_override": _("Overrode an allergy block"),
        PIN_FAILED: _("Approval PIN refused"),
        PIN_LOCKED: _("Approval PIN locked"),
        "purchases.view": _("Viewed purchases and medicines"),
        "product.upsert": _("Saved a product"),
        "catalog.import": _("Imported the catalog"),
        "stock.batch_status": _("Changed a batch's status"),
        "stock.adjust": _("Corrected stock after a count"),
        "stock.write_off": _("Wrote off stock"),
        "stock.returned_release": _("Released a returned pack to stock"),
        "stock.returned_write_off": _("Wrote off a returned pack"),
        "sale.return_approval": _("Approved a restricted return"),
        "sale.refund_tender_change": _("Refunded to another payment type"),
        "chain.settings_change": _("Changed the chain's settings"),
        "loyalty.rules_change": _("Changed the loyalty rules"),
        "loyalty.gift": _("Redeemed points for a gift"),
        "coupon.template_create": _("Created a coupon template"),
        "coupon.issue": _("Issued a coupon"),
        "coupon.print": _("Printed coupon codes"),
        "counter_device.register": _("Registered a counter tablet"),
        "counter_device.revoke": _("Withdrew a counter tablet"),
        "adherence.view": _("Viewed adherence"),
        "task.view": _("Opened a care task"),
        "task.reassign": _("Reassigned a care task"),
        "journey.save": _("Saved a care journey"),
        "journey.switch": _("Switched a care journey on or off"),
        "messages.settings_change": _("Changed the message settings"),
        "event.retry": _("Handed a failed event on again"),
    }.get(action, action)


# The actions the audit page offers as filters.
FILTER_ACTIONS = (
    ALLERGY_VIEW,
    "health.view",
    "vitals.view",
    "timeline.view",
    "purchases.view",
    "member.details_view",
    "member.phone_reveal",
    MEMBER_CREATE,
    "member.edit",
    "member.verify",
    ALLERGY_RECORD,
    ALLERGY_NONE,
    "allergy.change",
    "condition.record",
    "condition.confirm",
    "condition.resolve",
    "vital.record",
    "consent.view",
    "consent.grant",
    "consent.withdraw",
    "household.view",
    "household.change",
    "member.merge",
    "member.merge_undo",
    "member.merge_preview",
    "member.export",
    "member.export_full",
    "member.import",
    "sale.allergy_override",
    PIN_FAILED,
    PIN_LOCKED,
    "product.upsert",
    "catalog.import",
    "stock.batch_status",
    "stock.adjust",
    "stock.write_off",
    "stock.returned_release",
    "stock.returned_write_off",
    "sale.return_approval",
    "sale.refund_tender_change",
    "chain.settings_change",
    "loyalty.rules_change",
    "loyalty.gift",
    "coupon.template_create",
    "coupon.issue",
    "coupon.print",
    "counter_device.register",
    "counter_device.revoke",
    "adherence.view",
    "task.view",
    "task.reassign",
    "journey.save",
    "journey.switch",
    "messages.settings_change",
    "event.retry",
    LOGIN,
    LOGOUT,
)


async def record(actor: StaffUser, action: str, member_id: int | None = None, detail: str = "") -> None:
    """Write one audit event for `actor` (their role and store at the time, their client address)."""
    await queries.insert_event(
        datetime.now(UTC),
        actor.id,
        actor.username,
        actor.role,
        actor.store_id,
        member_id,
        action,
        actor.channel,
        actor.client_addr,
        detail,
    )


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page filters by; empty fields mean any."""

    username: str = ""
    action: str = ""
    member_no: str = ""
    store_code: str = ""
    date_from: datetime | None = None
    date_to: datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    """One page of events, newest first."""

    rows: list[dict]
    page: int
    per_page: int
    has_next: bool


async def search(flt: AuditFilter, page: int = 1, per_page: int = 50) -> AuditPage:
    """Events matching `flt`, newest first, one page at a time."""
    conditions: list[tuple[str, Any]] = []
    for name, value in (
        ("username", flt.username),
        ("action", flt.action),
        ("member_no", flt.member_no),
        ("store_code", flt.store_code),
        ("from", flt.date_from),
        ("before", flt.date_to + timedelta(days=1) if flt.date_to else None),
    ):
        if value:
            conditions.append((name, value))
    page = max(1, page)
    rows = await queries.page_rows(conditions, per_page + 1, (page - 1) * per_page)
    return AuditPage(rows=rows[:per_page], page=page, per_page=per_page, has_next=len(rows) > per_page)


async def count(action: str | None = None) -> int:
    """How many events (of one action) exist; used by tests and the dashboard."""
    return await queries.count(action)
