"""Messages: the outbox of SMS to members and robot notices to stores, the rules at send time, the sender."""

from app.components.messages.adapters import DeliveryError, Outgoing, deliver_log, deliver_robot, deliver_sms
from app.components.messages.config import (
    ROBOT_KINDS,
    MessageSettings,
    message_settings,
    parse_settings_form,
    save_message_settings,
    stores,
)
from app.components.messages.inbound import STOP_WORDS, TEXT_MAX, InboundResult, is_stop, receive
from app.components.messages.listing import (
    STATUSES,
    MessageView,
    channel_label,
    message_by_key,
    reason_label,
    recent_messages,
    status_label,
)
from app.components.messages.outbox import queue_member_message, queue_staff_notice
from app.components.messages.receipts import ERROR_MAX, RECEIPT_STATUSES, NotSentYet, ReceiptResult, record_receipt
from app.components.messages.rules import Decision, decide, quiet_until
from app.components.messages.sender import BATCH, CLAIM_TIMEOUT, MESSAGE_EVENT, SendReport, backoff, send_due
from app.components.messages.templates import SENSITIVE, Template, render, template, templates

__all__ = [
    "BATCH",
    "CLAIM_TIMEOUT",
    "ERROR_MAX",
    "MESSAGE_EVENT",
    "RECEIPT_STATUSES",
    "ROBOT_KINDS",
    "SENSITIVE",
    "STATUSES",
    "STOP_WORDS",
    "TEXT_MAX",
    "Decision",
    "DeliveryError",
    "InboundResult",
    "MessageSettings",
    "MessageView",
    "NotSentYet",
    "Outgoing",
    "ReceiptResult",
    "SendReport",
    "Template",
    "backoff",
    "channel_label",
    "decide",
    "deliver_log",
    "deliver_robot",
    "deliver_sms",
    "is_stop",
    "message_by_key",
    "message_settings",
    "parse_settings_form",
    "queue_member_message",
    "queue_staff_notice",
    "quiet_until",
    "reason_label",
    "receive",
    "recent_messages",
    "record_receipt",
    "render",
    "save_message_settings",
    "send_due",
    "status_label",
    "stores",
    "template",
    "templates",
]
