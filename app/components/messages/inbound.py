"""Inbound SMS: a reply of STOP (退订, TD, T) opts the sender out of SMS at once and cancels what was queued."""

from __future__ import annotations

from dataclasses import dataclass

from app.components import consents, members
from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.components.messages import queries
from app.components.messages.rules import OPTED_OUT
from app.components.messages.templates import CARE, MARKETING
from app.db import transaction
from app.i18n import _

STOP_WORDS = frozenset({"stop", "td", "t", "退订"})
TEXT_MAX = 500
# What a STOP withdraws: marketing by SMS and care reminders by SMS.
STOP_PURPOSES = (consents.MARKETING_SMS, consents.CARE_MESSAGES)


@dataclass(frozen=True)
class InboundResult:
    """What a reply did: the members it matched, whether it was a STOP, how many queued messages it cancelled."""

    member_nos: tuple[str, ...]
    opted_out: bool
    cancelled: int


def is_stop(text: str) -> bool:
    """A STOP reply: STOP, TD, T or 退订, any case, surrounding spaces ignored."""
    return (text or "").strip().casefold() in STOP_WORDS


async def receive(phone: str, text: str, actor: StaffUser) -> InboundResult:
    """Handle a member's SMS reply. Unknown phone: NotFound; a STOP withdraws `marketing_sms` and `care_messages`
    (channel "sms") of every live member with that phone and suppresses their queued care and marketing
    messages, in one transaction."""
    errors = {}
    normalized = members.normalize_phone(phone or "")
    if normalized is None:
        errors["phone"] = _("Enter a mainland mobile number.")
    if len(text or "") > TEXT_MAX:
        errors["text"] = _("At most %(max)s characters.") % {"max": TEXT_MAX}
    if errors:
        raise ValidationFailed(errors)
    found = await members.find_by_code(normalized, actor)
    if not found:
        raise NotFound(_("No member with phone %(phone)s.") % {"phone": members.mask_phone(normalized)})
    if not is_stop(text):
        return InboundResult(tuple(m.member_no for m in found), False, 0)
    ids = [m.id for m in found]
    async with transaction():
        for member_id in ids:
            given = await consents.message_consents(member_id)
            for purpose in STOP_PURPOSES:
                if given.get(purpose) is not False:
                    await consents.set_consent(member_id, purpose, False, actor, channel="sms")
        cancelled = await queries.cancel_pending(ids, (CARE, MARKETING), OPTED_OUT)
    return InboundResult(tuple(m.member_no for m in found), True, cancelled)
