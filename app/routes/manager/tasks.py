"""The store's task queue for its manager: open and overdue tasks per pharmacist, and the queue itself."""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Template

from app.components import care_tasks
from app.components.core.roles import MANAGER_ROLES
from app.routes.guards import requires_role
from app.routes.render import render


@get("/tasks", guards=[requires_role(MANAGER_ROLES)])
async def store_tasks(request: Request) -> Template:
    """Open and overdue tasks per assignee and the open queue, for the manager's store (HQ: every store)."""
    ctx = {
        "counts": await care_tasks.queue_counts(request.user),
        "tasks": await care_tasks.store_queue(request.user, None),
    }
    return render(request, "manager/tasks.html", ctx)


ROUTES = [store_tasks]
