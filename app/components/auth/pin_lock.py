"""Approval PINs lock after repeated wrong tries, per approver and in the database; every failure is audited.

A counter asks for a pharmacist's (or, to sell beyond stock, a store manager's) PIN. Five wrong tries in a row
for one approver lock that approver's PIN for 15 minutes, whoever typed them and at whichever counter: even the
right PIN is refused until then, with the time it opens again. A right PIN resets the count. The count lives in
`pin_lockout` (not only in Redis), so a restart or a flushed cache opens nothing. A try is taken (counted) before
the PIN is checked, so a burst of parallel guesses gets no more than PIN_MAX_FAILURES checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.components import audit
from app.components.auth import queries
from app.components.core.actor import StaffUser
from app.db import as_datetime, transaction
from app.i18n import _
from app.settings import get_settings

PIN_MAX_FAILURES = 5
PIN_LOCK = timedelta(minutes=15)
# Audit actions: a refused PIN (wrong, or its approver may not approve here) and a PIN that became locked.
PIN_FAILED = audit.PIN_FAILED
PIN_LOCKED = audit.PIN_LOCKED


def now() -> datetime:
    """The clock of the lock (tests move it forward instead of sleeping)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Attempt:
    """One try of an approver's PIN: `number` in the current run of failures, or refused while `locked_until`."""

    allowed: bool
    number: int = 0
    locked_until: datetime | None = None


def until_text(when: datetime) -> str:
    """The time a lock ends, in the store's zone (the day too when it is not today there)."""
    zone = ZoneInfo(get_settings().timezone)
    local = when.astimezone(zone)
    if local.date() != now().astimezone(zone).date():
        return local.strftime("%Y-%m-%d %H:%M")
    return local.strftime("%H:%M")


def locked_error(display_name: str, until: datetime) -> str:
    """The message for a locked PIN, saying until when."""
    return _("Too many wrong PINs: %(name)s's PIN is locked until %(time)s.") % {
        "name": display_name,
        "time": until_text(until),
    }


async def claim(staff_id: int) -> Attempt:
    """Take one try of the approver's PIN before it is checked; refused while the PIN is locked."""
    at = now()
    async with transaction():
        row = await queries.lock_pin_state(staff_id, at)
        until = as_datetime(row["locked_until"])
        if until is not None and until > at:
            return Attempt(False, int(row["failures"]), until)
        failures = (0 if until is not None else int(row["failures"])) + 1  # an expired lock starts a new run
        until = at + PIN_LOCK if failures > PIN_MAX_FAILURES else None  # parallel guesses beyond the limit
        await queries.set_pin_state(staff_id, 0 if until else failures, until, at)
    return Attempt(until is None, failures, until)


async def succeeded(staff_id: int) -> None:
    """A right PIN: the run of failures starts again (a lock set meanwhile by a parallel burst stays)."""
    at = now()
    await queries.reset_pin_failures(staff_id, at)


async def failed(actor: StaffUser, staff_id: int, username: str, attempt: Attempt, why: str) -> datetime | None:
    """Record a refused PIN of an approver (locking it on the last allowed try) and audit it; returns the lock's
    end when the PIN is now locked."""
    at = now()
    detail = f"approver {username} (staff {staff_id}): {why}, try {attempt.number} of {PIN_MAX_FAILURES}"
    async with transaction():
        until = None
        if attempt.number >= PIN_MAX_FAILURES:
            until = at + PIN_LOCK
            await queries.set_pin_state(staff_id, 0, until, at)
        await audit.record(actor, PIN_FAILED, detail=detail)
        if until is not None:
            await audit.record(
                actor, PIN_LOCKED, detail=f"approver {username} (staff {staff_id}): locked until {until.isoformat()}"
            )
    return until


async def refused_while_locked(actor: StaffUser, staff_id: int, username: str, until: datetime) -> None:
    """Audit a try at a locked PIN (its PIN is not checked)."""
    await audit.record(
        actor, PIN_FAILED, detail=f"approver {username} (staff {staff_id}): PIN locked until {until.isoformat()}"
    )


async def unknown_approver(actor: StaffUser, typed: str) -> None:
    """Audit a PIN typed for a username nobody has."""
    await audit.record(actor, PIN_FAILED, detail=f"approver {typed[:60]!r}: no such staff member")


async def lock_state(staff_id: int) -> Attempt:
    """The approver's current run of failures and lock, without taking a try (for tests and the audit view)."""
    row = await queries.pin_state(staff_id)
    if row is None:
        return Attempt(True, 0, None)
    until = as_datetime(row["locked_until"])
    locked = until is not None and until > now()
    return Attempt(not locked, int(row["failures"]), until if locked else None)
