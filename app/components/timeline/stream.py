"""The member timeline: one append-only stream that every feature adds its events to.

A summary is stored as its message id and arguments (`message(...)`), and translated when it is read, so each
reader sees it in their own language whatever the language of the staff member who acted. Arguments that are
codes (a condition, a consent purpose …) are `Label`s, rendered by the labeller their component registers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from app.components.core.actor import StaffUser
from app.components.timeline import queries
from app.db import as_datetime
from app.i18n import gettext, join_list

# Kinds used so far; later features add their own (purchase, follow_up, message, complaint …).
REGISTERED = "registered"
EDITED = "edited"
VERIFIED = "verified"
ALLERGY = "allergy"
CONDITION = "condition"
VITAL = "vital"
CONSENT = "consent"
HOUSEHOLD = "household"
MERGED = "merged"
IMPORTED = "imported"


@dataclass(frozen=True)
class Label:
    """A code shown through the labeller registered for `kind`; a tuple of codes is shown as a list."""

    kind: str
    code: str | tuple[str, ...]


_LABELLERS: dict[str, Callable[[str], str]] = {}


def register_labeller(kind: str, labeller: Callable[[str], str]) -> None:
    """Let summaries carry `Label(kind, code)`; `labeller(code)` gives the code's name in the current language."""
    _LABELLERS[kind] = labeller


def message(msgid: str, **args: str | int | float | Label) -> str:
    """A summary to store: `msgid` (marked with `N_`) and its arguments, translated when read."""
    stored = {
        k: {"label": [v.kind, list(v.code) if isinstance(v.code, tuple) else v.code]} if isinstance(v, Label) else v
        for k, v in args.items()
    }
    return json.dumps({"msgid": msgid, "args": stored}, ensure_ascii=False, separators=(",", ":"))


def _argument(value: object) -> object:
    if isinstance(value, dict) and "label" in value:
        kind, code = value["label"]
        labeller = _LABELLERS.get(kind, str)
        return join_list(labeller(c) for c in code) if isinstance(code, list) else labeller(code)
    return value


def render(summary: str) -> str:
    """A stored summary in the current language (summaries written before `message` existed stay as written)."""
    if not summary.startswith('{"msgid":'):
        return summary
    try:
        data = json.loads(summary)
        args = {k: _argument(v) for k, v in data["args"].items()}
        return gettext(data["msgid"]) % args if args else gettext(data["msgid"])
    except (ValueError, KeyError, TypeError):
        return summary


@dataclass(frozen=True)
class TimelineEvent:
    """One line of the timeline."""

    at: datetime
    kind: str
    summary: str
    staff: str | None
    store: str | None
    ref: str


async def record_event(member_id: int, kind: str, summary: str, actor: StaffUser | None = None, ref: str = "") -> None:
    """Append an event; call inside the transaction that made the change so both land or neither.

    `summary` comes from `message(...)` so that every reader sees it in their own language.
    """
    await queries.insert_event(
        member_id,
        datetime.now(UTC),
        kind,
        summary,
        actor.id if actor else None,
        actor.store_id if actor else None,
        ref,
    )


async def events(member_id: int, limit: int = 100, before_id: int | None = None) -> list[TimelineEvent]:
    """The newest events first."""
    rows = await queries.newest(member_id, limit, before_id)
    return [TimelineEvent(r["at"], r["kind"], render(r["summary"]), r["staff"], r["store"], r["ref"]) for r in rows]


async def last_events(member_id: int, kind: str, ref_prefix: str) -> dict[str, tuple[datetime | None, str | None]]:
    """ref → (when, who) of the latest event of `kind` whose ref starts with `ref_prefix` (e.g. a status change)."""
    rows = await queries.latest_by_ref(member_id, kind, ref_prefix)
    return {r["ref"]: (as_datetime(r["at"]), r["staff"]) for r in rows}
