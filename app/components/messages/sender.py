"""The sender: claims due messages set-based, applies the rules, renders and delivers each through its channel.

Exactly once in effect: a claim marks rows `sending` with the claim time; a worker killed mid-batch leaves them
so, and they are claimed again once the claim is older than `CLAIM_TIMEOUT`. The adapters get the message key as
the idempotency key (the log never writes a key twice; HTTP sends `Idempotency-Key`). Delivery is recorded with
the timeline event in one transaction. A failed delivery is retried with exponential backoff; after
`max_attempts` (a chain setting), or at once when the channel refuses for good, the message is `failed`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.components import consents, health, timeline
from app.components.core.crypto import decrypt
from app.components.messages import queries, rules
from app.components.messages.adapters import DeliveryError, Outgoing, deliver_log, deliver_robot, deliver_sms
from app.components.messages.config import MessageSettings, message_settings
from app.components.messages.templates import STAFF, render, template
from app.db import as_datetime, transaction
from app.i18n import N_
from app.settings import get_settings

CLAIM_TIMEOUT = timedelta(minutes=5)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)
BATCH = 100
# Timeline kind of a message sent to the member.
MESSAGE_EVENT = "message"
GAVE_UP, REFUSED = "gave_up", "refused"


@dataclass
class SendReport:
    """What one run of the sender did."""

    claimed: int = 0
    sent: int = 0
    deferred: int = 0
    suppressed: int = 0
    retried: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed delivery: 1, 2, 4 … minutes, at most 6 hours."""
    return min(BACKOFF_BASE * (2 ** max(0, attempts - 1)), BACKOFF_MAX)


def _params(raw: object) -> dict:
    value = json.loads(raw) if isinstance(raw, str) else (raw or {})
    return value if isinstance(value, dict) else {}


async def _prepare(row: dict, now: datetime, config: MessageSettings) -> tuple[rules.Decision, Outgoing | None, str]:
    """The decision for a claimed row and, when it is to be sent, the rendered message and its language."""
    settings = get_settings()
    params = _params(row["params"])
    store = await queries.store(row["store"]) if row["store"] else None
    zone = store["timezone"] if store else settings.timezone
    if store:
        params.setdefault("store", store["name"])
    language = settings.default_language
    if row["purpose"] == STAFF:
        decision = rules.Decision(rules.SEND)
        details, phone = False, None
    else:
        member = await queries.recipient(row["member"]) if row["member"] else None
        if member is None:
            return rules.Decision(rules.SUPPRESS, rules.NO_MEMBER), None, language
        given = await consents.message_consents(member["id"])
        window = await queries.sent_since(member["id"], now - rules.WINDOW, rules.CAPPED)
        decision = rules.decide(
            row["purpose"],
            now,
            zone,
            given,
            [as_datetime(t) for t in window],
            config.weekly_cap,
            merged=member["merged_into"] is not None,
        )
        phone = decrypt(member["phone_enc"], "phone") if member["phone_enc"] else None
        if decision.action == rules.SEND and row["channel"] == "sms" and not phone:
            decision = rules.Decision(rules.SUPPRESS, rules.NO_PHONE)
        language = await health.member_language(member["id"]) or language
        details = given.get(consents.SMS_DETAILS) is True
        params.setdefault("name", member["name"])
    if decision.action != rules.SEND or template(row["template"]) is None:
        return decision, None, language
    text = render(row["template"], params, language, details=details)
    outgoing = Outgoing(row["key"], row["channel"], text, phone, row["member"], row["store"], row["template"])
    return decision, outgoing, language


async def _deliver(message: Outgoing, config: MessageSettings, now: datetime) -> None:
    settings = get_settings()
    if message.channel == "sms" and settings.sms_url:
        await deliver_sms(settings.sms_url, settings.sms_auth, settings.sms_body, message)
        return
    robot = config.robots.get(message.store_id or 0)
    if message.channel in ("wecom", "dingtalk") and robot:
        await deliver_robot(robot[1], message)
        return
    await asyncio.to_thread(deliver_log, settings.message_log, message, now)


async def _sent(row: dict, attempts: int, now: datetime) -> None:
    async with transaction():
        await queries.mark_sent(row["id"], now, attempts)
        if row["member"]:
            scalars = {k: v for k, v in _params(row["params"]).items() if isinstance(v, str | int) and k != "template"}
            summary = timeline.message(
                N_("Message sent: %(template)s"),
                **scalars,
                template=timeline.Label("message_template", row["template"]),
            )
            await timeline.record_event(row["member"], MESSAGE_EVENT, summary, ref=f"message:{row['id']}")


async def send_one(row: dict, now: datetime, config: MessageSettings, report: SendReport) -> None:
    """Decide, render and deliver one claimed message, recording the outcome."""
    decision, outgoing, language = await _prepare(row, now, config)
    if decision.action == rules.DEFER:
        async with transaction():
            await queries.defer(row["id"], decision.until or now, decision.reason)
        report.deferred += 1
        return
    if outgoing is None:
        async with transaction():
            await queries.suppress(row["id"], decision.reason or "unknown_template")
        report.suppressed += 1
        return
    async with transaction():
        await queries.rendered(row["id"], outgoing.text, language, outgoing.channel)
    attempts = (row["attempts"] or 0) + 1
    try:
        await _deliver(outgoing, config, now)
    except DeliveryError as exc:
        async with transaction():
            if exc.permanent or attempts >= config.max_attempts:
                await queries.mark_failed(row["id"], attempts, str(exc), REFUSED if exc.permanent else GAVE_UP)
                report.failed += 1
            else:
                await queries.mark_retry(row["id"], attempts, now + backoff(attempts), str(exc))
                report.retried += 1
        return
    await _sent(row, attempts, now)
    report.sent += 1


async def send_due(now: datetime | None = None, limit: int = BATCH) -> SendReport:
    """Claim up to `limit` due messages and send each; what happened."""
    now = now or datetime.now(UTC)
    config = await message_settings()
    async with transaction():
        claimed = await queries.claim_due(now, now - CLAIM_TIMEOUT, limit)
    report = SendReport(claimed=len(claimed))
    for row in claimed:
        await send_one(row, now, config, report)
    return report


def _template_label(code: str) -> str:
    found = template(code)
    return found.label if found else code


timeline.register_labeller("message_template", _template_label)
