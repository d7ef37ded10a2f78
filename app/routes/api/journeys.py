"""JSON API v1 for care journeys (bearer token): each journey's current version, its steps and its counts."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get

from app.components import care
from app.components.core.clock import store_today
from app.components.core.roles import JOURNEY_READ_ROLES
from app.routes.api import schema as s
from app.routes.api.schema import SECURITY
from app.routes.guards import requires_role


class JourneyStepOut(msgspec.Struct):
    after_days: Annotated[int, msgspec.Meta(description="Days after the enrolment's anchor day.")]
    at: Annotated[str, msgspec.Meta(description="Local time of day in the member's store's zone, HH:MM.")]
    action: Annotated[str, msgspec.Meta(description="message | task | coupon")]
    template: str
    coupon: str
    task_kind: str
    role: str
    priority: str
    skip_if: list[str]
    done: int
    skipped: int
    held_out: int
    sent: int
    delivered: int


class JourneyOut(msgspec.Struct):
    code: str
    version: int
    name: str
    purpose: Annotated[str, msgspec.Meta(description="care | marketing | service")]
    trigger: str
    trigger_params: dict[str, Any]
    active: bool
    builtin: bool
    holdout_pct: int
    enrolled: Annotated[int, msgspec.Meta(description="Enrolments of every version.")]
    held_out: int
    running: int
    converted: Annotated[int, msgspec.Meta(description="Treated members who bought again within 30 days.")]
    steps: list[JourneyStepOut]


class JourneysOut(msgspec.Struct):
    journeys: list[JourneyOut]


@get(
    "/journeys",
    guards=[requires_role(JOURNEY_READ_ROLES)],
    security=SECURITY,
    tags=["care"],
    responses={200: s.ok(JourneysOut, "Every journey's current version with its per-step counts.")},
)
async def journeys(request: Request) -> dict:
    """Every journey (built-ins first): its trigger, steps, hold-out share, on/off, and counts over all versions."""
    out = []
    for j in await care.journeys():
        numbers = await care.journey_stats(await care.version_ids(j["code"]), store_today())
        counts = {c.step: c for c in numbers.steps}
        steps = []
        for n, step in enumerate(j["steps"]):
            c = counts.get(n)
            steps.append(
                {
                    **{k: step.get(k, "") for k in ("after_days", "at", "action", "template", "coupon", "task_kind")},
                    "role": step.get("role", ""),
                    "priority": step.get("priority", ""),
                    "skip_if": list(step.get("skip_if") or []),
                    "done": c.done if c else 0,
                    "skipped": c.skipped if c else 0,
                    "held_out": c.held_out if c else 0,
                    "sent": c.sent if c else 0,
                    "delivered": c.delivered if c else 0,
                }
            )
        out.append(
            {
                "code": j["code"],
                "version": j["version"],
                "name": j["name"],
                "purpose": j["purpose"],
                "trigger": j["trigger"],
                "trigger_params": j["trigger_params"],
                "active": j["active"],
                "builtin": j["builtin"],
                "holdout_pct": j["holdout_pct"],
                "enrolled": numbers.enrolled,
                "held_out": numbers.held_out,
                "running": numbers.active,
                "converted": numbers.converted,
                "steps": steps,
            }
        )
    return {"journeys": out}


ROUTES = [journeys]
