"""Delivery receipts: the SMS gateway says whether a sent message reached the phone (`sent` → `delivered`, or
`failed` with the gateway's error, listed for managers)."""

from __future__ import annotations

from dataclasses import dataclass

from app.components.core.errors import NotFound, ValidationFailed
from app.components.messages import queries
from app.db import transaction
from app.i18n import _

RECEIPT_STATUSES = ("delivered", "undelivered")
UNDELIVERED = "undelivered"  # the failure reason a receipt records
ERROR_MAX = 500


class NotSentYet(Exception):
    """A receipt for a message not handed to the gateway yet (still queued, or being sent this instant)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ReceiptResult:
    """The message's status after the receipt, and whether this receipt changed it (a repeat changes nothing)."""

    key: str
    status: str
    changed: bool


def _final(row: dict) -> bool:
    """Already has a receipt's answer: delivered, or failed by an undelivered receipt."""
    return row["status"] == "delivered" or (row["status"] == "failed" and row["reason"] == UNDELIVERED)


async def record_receipt(key: str, status: str, error: str = "") -> ReceiptResult:
    """Apply the gateway's receipt for message `key`. Unknown key: NotFound; not sent yet: NotSentYet (the gateway
    tries again); a second receipt for the same message changes nothing (the first answer stands)."""
    errors = {}
    if not key or len(key) > 200:
        errors["key"] = _("Give the message key the gateway was sent.")
    if status not in RECEIPT_STATUSES:
        errors["status"] = _("Status is delivered or undelivered.")
    if len(error or "") > ERROR_MAX:
        errors["error"] = _("At most %(max)s characters.") % {"max": ERROR_MAX}
    if errors:
        raise ValidationFailed(errors)
    async with transaction(short=True):
        row = await queries.lock_by_key(key)
        if row is None:
            raise NotFound(_("No message %(key)s.") % {"key": key})
        if _final(row):
            return ReceiptResult(key, row["status"], False)
        if row["status"] != "sent":
            raise NotSentYet(_("Message %(key)s has not been sent yet.") % {"key": key})
        if status == "delivered":
            await queries.mark_delivered(row["id"])
            return ReceiptResult(key, "delivered", True)
        await queries.mark_failed(row["id"], row["attempts"], error or UNDELIVERED, UNDELIVERED)
        return ReceiptResult(key, "failed", True)
