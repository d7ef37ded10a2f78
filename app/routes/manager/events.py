"""Domain events that failed every try, for HQ administrators: what happened, to whom, the last error, and a
button that hands the event to its handlers again (once the cause is fixed)."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Template

from app.components import events
from app.components.core.roles import QUEUE_MONITOR_ROLES
from app.routes.guards import requires_role
from app.routes.render import render

guard = [requires_role(QUEUE_MONITOR_ROLES)]
PAGE = "manager/events.html"


async def _page(request: Request, retried: int | None = None) -> Template:
    ctx = {"failed": await events.failed_events(), "retried": retried, "kind_label": events.kind_label}
    return render(request, PAGE, ctx, block="event_list")


@get("/events", guards=guard)
async def failed_events_page(request: Request) -> Template:
    """The events whose handlers failed every try, newest first."""
    return await _page(request)


@post("/events/{event_id:int}/retry", guards=guard)
async def retry_event(request: Request, event_id: FromPath[int]) -> Template:
    """Hand the event on again (audited); 404 when no failed event has this id."""
    await events.retry_event(event_id, request.user)
    return await _page(request, retried=event_id)


ROUTES = [failed_events_page, retry_event]
