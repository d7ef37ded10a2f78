"""The manager's list of messages: the newest, by status, with why a message failed or was held back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.components.core.actor import StaffUser
from app.components.core.roles import HQ_ROLES
from app.components.messages import queries
from app.components.messages.templates import template
from app.db import as_datetime
from app.i18n import _

STATUSES = ("queued", "deferred", "sending", "sent", "delivered", "failed", "suppressed")
LIST_MAX = 200


def status_label(status: str) -> str:
    """A message status in the current language."""
    return {
        "queued": _("Queued"),
        "deferred": _("Deferred"),
        "sending": _("Sending"),
        "sent": _("Sent"),
        "delivered": _("Delivered"),
        "failed": _("Failed"),
        "suppressed": _("Not sent"),
    }.get(status, status)


def reason_label(reason: str) -> str:
    """Why a message was deferred, not sent or failed, in the current language."""
    return {
        "no_marketing_consent": _("No consent to marketing SMS"),
        "no_health_consent": _("No consent to health data"),
        "care_off": _("The member turned care reminders off"),
        "member_merged": _("The member was merged into another record"),
        "no_member": _("The member no longer exists"),
        "no_phone": _("No phone number"),
        "quiet_hours": _("Quiet hours (21:00–08:00)"),
        "weekly_cap": _("Weekly message limit reached"),
        "opted_out": _("The member replied STOP"),
        "retry": _("Delivery failed; will try again"),
        "gave_up": _("Delivery failed too many times"),
        "refused": _("The gateway refused the message"),
        "undelivered": _("The gateway could not deliver it to the phone"),
        "unknown_template": _("Unknown template"),
    }.get(reason, reason)


def channel_label(channel: str) -> str:
    """A channel's name in the current language."""
    return {"sms": _("SMS"), "wecom": _("WeCom robot"), "dingtalk": _("DingTalk robot"), "log": _("Log")}.get(
        channel, channel
    )


@dataclass(frozen=True)
class MessageView:
    """One message as a manager sees it (the body only for the log channel: a real SMS is not shown again)."""

    key: str
    member_no: str | None
    store_code: str | None
    purpose: str
    template: str
    channel: str
    status: str
    reason: str
    body: str
    attempts: int
    last_error: str
    not_before: datetime | None
    created_at: datetime | None
    sent_at: datetime | None

    @property
    def template_label(self) -> str:
        found = template(self.template)
        return found.label if found else self.template

    @property
    def status_label(self) -> str:
        return status_label(self.status)

    @property
    def reason_label(self) -> str:
        return reason_label(self.reason) if self.reason else ""

    @property
    def channel_label(self) -> str:
        return channel_label(self.channel)


def _view(row: dict) -> MessageView:
    return MessageView(
        key=row["key"],
        member_no=row.get("member_no"),
        store_code=row.get("store_code"),
        purpose=row["purpose"],
        template=row["template"],
        channel=row["channel"],
        status=row["status"],
        reason=row["reason"] or "",
        body=row["body"] if row["channel"] == "log" else "",
        attempts=row["attempts"] or 0,
        last_error=row["last_error"] or "",
        not_before=as_datetime(row["not_before"]),
        created_at=as_datetime(row["created_at"]),
        sent_at=as_datetime(row["sent_at"]),
    )


async def recent_messages(actor: StaffUser, status: str | None = None, limit: int = 100) -> list[MessageView]:
    """The newest messages: the actor's store's for store roles, every store's for HQ; `status` filters (an
    unknown status lists all)."""
    store_id = None if actor.role in HQ_ROLES else (actor.store_id or -1)
    status = status if status in STATUSES else None
    rows = await queries.recent(store_id, status, max(1, min(limit, LIST_MAX)))
    return [_view(r) for r in rows]


async def message_by_key(key: str) -> MessageView | None:
    """One message by key (tests, the journey stats)."""
    row = await queries.by_key(key)
    return _view(row) if row else None
