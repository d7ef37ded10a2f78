"""The chain's counter rules that HQ sets: how returns of dispensed medicines are handled, and the print paper.

One row of `chain_setting` (name "counter") holds them as JSON; anything not configured (or no longer valid) reads
as its default, so a fresh chain works without HQ having opened the form.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from app.components import audit
from app.components.core.actor import StaffUser
from app.components.core.errors import ValidationFailed
from app.components.core.roles import CATALOG_WRITE_ROLES
from app.components.sales.queries import counter as counter_sql
from app.db import transaction
from app.i18n import _

COUNTER = "counter"
CHANGE_ACTION = "chain.settings_change"
# Returns of dispensed Rx, antibiotic (ATC J01) and cold-chain medicines: refused at the counter, or allowed once
# a store manager has approved them with their PIN.
REFUSE, MANAGER_PIN = "refuse", "manager_pin"
RESTRICTED_RETURNS = (REFUSE, MANAGER_PIN)
# Thermal rolls (58 mm, 80 mm) for receipts and slips; the guidance and refund slips may also go on A4.
RECEIPT_PAPERS = ("58", "80")
SLIP_PAPERS = ("58", "80", "a4")


@dataclass(frozen=True)
class CounterSettings:
    """The chain's counter rules (defaults: a store manager's PIN for restricted returns, 80 mm paper)."""

    restricted_returns: str = MANAGER_PIN
    receipt_paper: str = "80"
    slip_paper: str = "80"


_CHOICES = {
    "restricted_returns": RESTRICTED_RETURNS,
    "receipt_paper": RECEIPT_PAPERS,
    "slip_paper": SLIP_PAPERS,
}


def settings_from(raw: Any) -> CounterSettings:
    """The settings from the stored JSON; unknown names and values that are no longer offered read as defaults."""
    stored = json.loads(raw) if isinstance(raw, str) else (raw or {})
    if not isinstance(stored, dict):
        stored = {}
    return CounterSettings(**{k: v for k, v in stored.items() if k in _CHOICES and v in _CHOICES[k]})


async def counter_settings() -> CounterSettings:
    """The chain's counter rules as configured now."""
    return settings_from(await counter_sql.chain_setting(COUNTER))


def restricted_returns_label(value: str) -> str:
    """A restricted-returns rule in the current language."""
    return {
        REFUSE: _("Refuse them at the counter"),
        MANAGER_PIN: _("Allow them with a store manager's PIN"),
    }.get(value, value)


def paper_label(value: str) -> str:
    """A paper size in the current language."""
    return {"58": _("58 mm roll"), "80": _("80 mm roll"), "a4": _("A4 sheet")}.get(value, value)


def parse_form(form: dict[str, str]) -> CounterSettings:
    """The settings as the form typed them; ValidationFailed names each field whose value is not offered."""
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    for name, choices in _CHOICES.items():
        value = str(form.get(name) or "").strip()
        if value not in choices:
            errors[name] = _("Choose one of the options.")
        values[name] = value
    if errors:
        raise ValidationFailed(errors)
    return CounterSettings(**values)


class NotAllowed(Exception):
    """Only HQ administrators change the chain's settings (routes answer 403); `.message` says so."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def save_counter_settings(new: CounterSettings, actor: StaffUser) -> list[str]:
    """Store the settings (HQ administrators only; audited with what changed); return the changed names."""
    if actor.role not in CATALOG_WRITE_ROLES:
        raise NotAllowed(_("Only an HQ administrator may change the chain's settings."))
    async with transaction():
        old = await counter_settings()
        changed = [f.name for f in fields(CounterSettings) if getattr(old, f.name) != getattr(new, f.name)]
        if not changed:
            return []
        await counter_sql.save_chain_setting(COUNTER, json.dumps(asdict(new)), datetime.now(UTC), actor.id)
        detail = "; ".join(f"{n}: {getattr(old, n)} → {getattr(new, n)}" for n in changed)
        await audit.record(actor, CHANGE_ACTION, None, detail)
    return changed
