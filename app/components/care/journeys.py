"""Journey versions: save the builder's definition as a new version, switch a journey on or off, seed built-ins."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from app.components import audit
from app.components.care import queries
from app.components.care.builtin import BUILTIN
from app.components.care.definitions import Definition, steps_from_json
from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.db import transaction
from app.i18n import _, pick

JOURNEY_SAVE = "journey.save"
JOURNEY_SWITCH = "journey.switch"


def definition_of(journey: dict[str, Any]) -> Definition:
    """A stored version as a definition."""
    return Definition(
        journey["name_zh"],
        journey["name_en"],
        journey["purpose"],
        journey["trigger"],
        dict(journey["trigger_params"]),
        steps_from_json(journey["steps"]),
        int(journey["holdout_pct"]),
    )


def _values(code: str, d: Definition, active: bool, builtin: bool, actor_id: int | None) -> dict[str, Any]:
    return {
        "code": code,
        "name_zh": d.name_zh,
        "name_en": d.name_en,
        "purpose": d.purpose,
        "trigger": d.trigger,
        "trigger_params": d.params,
        "steps": [s.as_json() for s in d.steps],
        "holdout_pct": d.holdout_pct,
        "active": active,
        "builtin": builtin,
        "created_by": actor_id,
    }


async def save_journey(code: str | None, d: Definition, actor: StaffUser) -> str:
    """Save `d` as the new current version of journey `code` (a new journey when None); the code.

    Members already enrolled finish on the version they started; a journey that was on stays on."""
    now = datetime.now(UTC)
    async with transaction():
        if code is None:
            code = "j" + secrets.token_hex(5)
            active, builtin = False, False
        else:
            await queries.lock_code(code)
            current = await queries.journey_by_code(code)
            if current is None:
                raise NotFound(_("No journey %(code)s.") % {"code": code})
            active, builtin = current["active"], current["builtin"]
        await queries.insert_version(_values(code, d, active, builtin, actor.id), now)
        await audit.record(actor, JOURNEY_SAVE, None, f"{code}: {d.name_zh}")
    return code


async def switch_journey(code: str, on: bool, actor: StaffUser) -> int:
    """Switch journey `code` on or off; switching off ends every running enrolment. How many ended."""
    now = datetime.now(UTC)
    async with transaction():
        await queries.lock_code(code)
        current = await queries.journey_by_code(code)
        if current is None:
            raise NotFound(_("No journey %(code)s.") % {"code": code})
        if on and not current["steps"]:
            raise ValidationFailed({"active": _("A journey needs at least one step.")})
        await queries.set_active(code, on)
        ended = 0 if on else await queries.exit_journey(code, "journey_off", now)
        await audit.record(actor, JOURNEY_SWITCH, None, f"{code}: {'on' if on else 'off'}")
    return ended


def _named(journey: dict[str, Any]) -> dict[str, Any]:
    journey["name"] = pick(journey["name_zh"], journey["name_en"] or journey["name_zh"])
    return journey


async def journeys() -> list[dict[str, Any]]:
    """The current version of every journey (built-ins first), `name` in the reader's language."""
    return [_named(j) for j in await queries.current_journeys()]


async def versions(code: str) -> list[dict[str, Any]]:
    """Every version of journey `code`, newest first."""
    return [_named(j) for j in await queries.versions(code)]


async def version_ids(code: str) -> list[int]:
    """The ids of every version of `code` (its numbers count them all)."""
    return [v["id"] for v in await queries.versions(code)]


async def journey(code: str) -> dict[str, Any]:
    """The current version of journey `code`; NotFound names it."""
    found = await queries.journey_by_code(code)
    if found is None:
        raise NotFound(_("No journey %(code)s.") % {"code": code})
    return _named(found)


async def add_journey(code: str, d: Definition, active: bool, builtin: bool = False) -> dict[str, Any]:
    """Journey `code` as a new version of `d` without an actor (seeding, tests); its current version."""
    async with transaction():
        await queries.lock_code(code)
        await queries.insert_version(_values(code, d, active, builtin, None), datetime.now(UTC))
    return await journey(code)


async def seed_builtin_journeys(active: bool) -> int:
    """Add the built-in journeys that are missing (a chain's edits of them are kept); how many were added."""
    added = 0
    for code, d in BUILTIN.items():
        if await queries.journey_by_code(code) is None:
            await add_journey(code, d, active, builtin=True)
            added += 1
    return added
