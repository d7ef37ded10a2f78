"""The event dispatcher job and the one list of handlers (components never import who reacts to them)."""

from __future__ import annotations

from typing import Any

from app.components import care, events

# Every handler of domain events, in the order they run for one event.
HANDLERS: list[events.Handler] = [care.CARE_HANDLER]
# One run hands on at most this many batches; the next minute's run takes the rest.
MAX_BATCHES = 20


async def dispatch_events(ctx: dict[str, Any]) -> int:
    """Hand pending domain events to their handlers (each once); how many events were finished."""
    return await events.dispatch(HANDLERS, batches=MAX_BATCHES)
