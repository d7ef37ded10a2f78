"""Queueing messages: a row in the caller's transaction, under a unique key (queued twice, sent once)."""

from __future__ import annotations

from datetime import datetime

from app.components.core.errors import ValidationFailed
from app.components.messages import queries
from app.components.messages.config import message_settings
from app.components.messages.templates import MEMBER_PURPOSES, STAFF, template
from app.i18n import _
from app.settings import get_settings

KEY_MAX = 120


def _check(key: str, code: str, params: dict, purposes: tuple[str, ...]) -> None:
    found = template(code)
    errors = {}
    if not key or len(key) > KEY_MAX:
        errors["key"] = _("A message key of 1 to %(max)s characters.") % {"max": KEY_MAX}
    if found is None:
        errors["template"] = _("Unknown message template %(code)s.") % {"code": code}
    elif found.purpose not in purposes:
        errors["template"] = _("Template %(code)s is not for this kind of message.") % {"code": code}
    if not isinstance(params, dict):
        errors["params"] = _("Parameters are a mapping of names to values.")
    if errors:
        raise ValidationFailed(errors)


def member_channel() -> str:
    """Where member messages go: the SMS gateway when one is configured, else the log."""
    return "sms" if get_settings().sms_url else "log"


async def queue_member_message(
    key: str, member_id: int, store_id: int | None, purpose: str, template: str, params: dict, now: datetime
) -> bool:
    """Queue a message to a member (care | marketing | service), due now; call inside the caller's transaction.
    The rules (consent, quiet hours, the weekly cap) apply when it is sent. True when new, False when the key
    was queued before."""
    if purpose not in MEMBER_PURPOSES:
        raise ValidationFailed({"purpose": _("A member message is care, marketing or service.")})
    _check(key, template, params, (purpose,))
    return await queries.insert(key, member_id, store_id, purpose, template, params, member_channel(), now)


async def queue_staff_notice(key: str, store_id: int, template: str, params: dict, now: datetime) -> bool:
    """Queue a notice to the store's group robot (WeCom or DingTalk when configured, else the log); call inside
    the caller's transaction. True when new."""
    _check(key, template, params, (STAFF,))
    robot = (await message_settings()).robots.get(store_id)
    return await queries.insert(key, None, store_id, STAFF, template, params, robot[0] if robot else "log", now)
