"""Approvals at the counter: a PIN typed for another staff member (`verify_pin`), who may approve what, and the
approvals a sale records (allergy override, prescription check, acknowledged warnings, overselling), one row each."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from app.components import auth
from app.components.auth import check_password
from app.components.core.actor import StaffUser
from app.components.core.errors import ValidationFailed
from app.components.core.roles import PHARMACIST_ROLES
from app.components.sales.queries import sale as sale_sql
from app.i18n import _


@dataclass(frozen=True)
class Approver:
    """The staff member whose PIN approved something at a counter."""

    id: int
    display_name: str
    role: str


async def verify_pin(actor: StaffUser, username: str, pin: str, roles: Collection[str] = PHARMACIST_ROLES) -> Approver:
    """The approver whose username and PIN were typed at `actor`'s counter, when the PIN is theirs, they are active,
    their role is in `roles` and they work in the actor's store (HQ roles: any store); else ValidationFailed on
    field "pin". Five refused tries in a row lock the approver's PIN for 15 minutes (`pin_lock`); every refusal is
    audited with who typed it, the approver, the store and the time."""
    if not (username or "").strip() or not (pin or "").strip():
        raise ValidationFailed({"pin": _("Enter the approving user's name and PIN.")})
    wrong = ValidationFailed({"pin": _("Wrong user or PIN, or this user may not approve it.")})
    typed = username.strip()
    rows = await sale_sql.staff_for_pin(typed.lower()) or await sale_sql.staff_for_pin(typed)
    if not rows:
        await auth.unknown_approver(actor, typed)
        raise wrong
    row = rows[0]
    attempt = await auth.claim(row["id"])
    if not attempt.allowed:
        assert attempt.locked_until is not None
        await auth.refused_while_locked(actor, row["id"], row["username"], attempt.locked_until)
        raise ValidationFailed({"pin": auth.locked_error(row["display_name"], attempt.locked_until)})
    store_id = actor.store_id
    why = ""
    if not await check_password(row["pin_hash"], pin.strip()):
        why = "wrong PIN"
    elif not row["active"] or row["role"] not in roles:
        why = "may not approve this"
    elif row["store"] is not None and store_id is not None and row["store"] != store_id:
        why = "works in another store"
    if why:
        until = await auth.failed(actor, row["id"], row["username"], attempt, why)
        if until is not None:
            raise ValidationFailed({"pin": auth.locked_error(row["display_name"], until)})
        raise wrong
    await auth.succeeded(row["id"])
    return Approver(id=row["id"], display_name=row["display_name"], role=row["role"])


async def approvers_by_id(ids: Collection[int]) -> dict[int, dict]:
    """Active staff rows by id (one query) for checking who approved overrides, prescriptions and overselling."""
    wanted = sorted({int(i) for i in ids if i is not None})
    if not wanted:
        return {}
    rows = await sale_sql.active_staff(wanted)
    return {r["id"]: r for r in rows}


def approver_ok(row: dict | None, roles: Collection[str], store_id: int) -> bool:
    return row is not None and row["role"] in roles and (row["store"] is None or row["store"] == store_id)
