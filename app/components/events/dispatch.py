"""Domain events: recorded in the transaction of the change they report, handled once per registered handler.

A handler runs in one transaction with its (event, handler) row, whose key is unique: if the handler or the
worker dies before COMMIT both roll back and the next dispatch runs it again; after COMMIT no dispatch runs it
again. So every handler sees every event exactly once in effect, whatever crashes or races in between."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.components import audit
from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound
from app.components.events import queries
from app.db import as_datetime, transaction
from app.i18n import _

log = logging.getLogger(__name__)
# A handler that failed this often on one event stops being retried; the event is listed for a person.
MAX_ATTEMPTS = 5
EVENT_RETRY = "event.retry"  # the audit action of a person handing a failed event on again

SALE_COMPLETED = "sale.completed"
SALE_RETURNED = "sale.returned"
MEMBER_REGISTERED = "member.registered"
MEMBER_MERGED = "member.merged"
CONDITION_ADDED = "condition.added"
VITAL_OUT_OF_RANGE = "vital.out_of_range"
CONSENT_CHANGED = "consent.changed"
KINDS = frozenset(
    {
        SALE_COMPLETED,
        SALE_RETURNED,
        MEMBER_REGISTERED,
        MEMBER_MERGED,
        CONDITION_ADDED,
        VITAL_OUT_OF_RANGE,
        CONSENT_CHANGED,
    }
)


@dataclass(frozen=True)
class Event:
    """One recorded domain event."""

    id: int
    key: str
    kind: str
    member_id: int | None
    store_id: int | None
    payload: dict[str, Any]
    created_at: datetime | None


@dataclass(frozen=True)
class Handler:
    """A named handler of some kinds of event; the name is what "handled once" is counted by."""

    name: str
    kinds: frozenset[str]
    handle: Callable[[Event], Awaitable[None]]


async def record(
    key: str, kind: str, member_id: int | None, store_id: int | None, payload: dict[str, Any], now: datetime
) -> bool:
    """Record an event in the caller's transaction (so it exists exactly when the change does); the same key
    again records nothing. True when it was new."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    return await queries.insert(key, kind, member_id, store_id, payload, now)


def _event(row: dict[str, Any]) -> Event:
    payload = row["payload"]
    if isinstance(payload, str):
        payload = json.loads(payload or "{}")
    return Event(
        row["id"], row["key"], row["kind"], row["member"], row["store"], payload, as_datetime(row["created_at"])
    )


async def _handle(event: Event, handler: Handler) -> None:
    async with transaction():
        if await queries.mark_handled(event.id, handler.name, datetime.now(UTC)):
            await handler.handle(event)


async def dispatch(handlers: Sequence[Handler], limit: int = 500, batches: int = 1) -> int:
    """Hand pending events, oldest first, `limit` at a time for up to `batches` batches, to each handler of their
    kind; how many were finished.

    An event whose handler raises stays pending (its other handlers' work stays committed, once) and is tried
    again by the next run, up to MAX_ATTEMPTS runs; the events after it go on meanwhile."""
    done = 0
    after = 0
    for _batch in range(batches):
        rows = await queries.pending(after, limit, MAX_ATTEMPTS)
        if not rows:
            break
        for row in rows:
            event = _event(row)
            try:
                for handler in handlers:
                    if event.kind in handler.kinds:
                        await _handle(event, handler)
            except Exception as exc:  # a handler's bug must not stop every other event
                log.exception("event %s (%s): handler failed", event.key, event.kind)
                await queries.record_failure(event.id, f"{type(exc).__name__}: {exc}")
                continue
            await queries.mark_dispatched(event.id, datetime.now(UTC))
            done += 1
        after = rows[-1]["id"]
    return done


async def failed_events() -> list[dict[str, Any]]:
    """Events whose handlers failed MAX_ATTEMPTS times, for a person to look at (newest first, at most 100)."""
    return await queries.failed(MAX_ATTEMPTS)


async def retry_event(event_id: int, actor: StaffUser) -> None:
    """Hand a failed event to its handlers again (the next dispatch, MAX_ATTEMPTS more tries; the handlers that
    finished it keep their once-only mark); NotFound when no failed event has this id."""
    async with transaction():
        if not await queries.retry(event_id, MAX_ATTEMPTS):
            raise NotFound(_("No failed event %(id)s.") % {"id": event_id})
        await audit.record(actor, EVENT_RETRY, None, str(event_id))


def kind_label(kind: str) -> str:
    """An event kind's name in the current language."""
    return {
        SALE_COMPLETED: _("Sale"),
        SALE_RETURNED: _("Return"),
        MEMBER_REGISTERED: _("New member"),
        MEMBER_MERGED: _("Members merged"),
        CONDITION_ADDED: _("Condition added"),
        VITAL_OUT_OF_RANGE: _("Reading out of range"),
        CONSENT_CHANGED: _("Consent changed"),
    }.get(kind, kind)
