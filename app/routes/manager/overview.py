"""The manager's overview (phone): allergy status counts for their store, or the chain for HQ."""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Template

from app.components import members
from app.components.core.roles import HQ_ROLES
from app.routes.render import render


@get("/")
async def manager_home(request: Request) -> Template:
    """Overview for the manager's scope: their store, or the chain for HQ."""
    user = request.user
    store_id = None if user.role in HQ_ROLES else user.store_id
    counts = await members.allergy_status_counts(store_id)
    total = sum(counts.values())
    return render(request, "manager/index.html", {"counts": counts, "total": total})


ROUTES = [manager_home]
