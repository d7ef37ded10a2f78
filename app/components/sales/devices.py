"""Counter tablets: each named once by its store's staff, known by a long-lived cookie that holds a random token.

The open cart belongs to the tablet as well as the person (app.components.cart): the same login on two tablets
has two carts. Only the token's SHA-256 is stored; a store manager sees the store's tablets and may revoke one,
after which it is asked to be named again (its open carts are held, so nothing is lost).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from app.components import audit
from app.components.auth import hash_api_token
from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.components.sales.queries import counter as counter_sql
from app.db import transaction
from app.i18n import _

DEVICE_COOKIE = "ys_device"
# Browsers keep a cookie at most 400 days; a tablet in daily use is re-sent the cookie on every visit.
COOKIE_MAX_AGE = 400 * 24 * 3600
MAX_NAME = 40
REGISTER = "counter_device.register"
REVOKE = "counter_device.revoke"
# Like sessions (app.components.auth.SESSION_CACHE_SECONDS): a web process trusts a tablet it has read for this
# long, so a revocation takes effect at once in the process that made it and within this bound in the others.
CACHE_SECONDS = 2.0
_CACHE_LIMIT = 10_000
_cache: dict[str, tuple[float, Device | None]] = {}
_EXTRA_KEY = "counter_device"


@dataclass(frozen=True)
class Device:
    """A registered counter tablet."""

    id: int
    store_id: int
    name: str
    store_name: str = ""
    created_at: datetime | None = None
    created_by_name: str = ""
    revoked_at: datetime | None = None
    revoked_by_name: str = ""

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class DeviceRequired(Exception):
    """The counter's cart needs a registered tablet and this request came from none (or a revoked one)."""

    def __init__(self) -> None:
        super().__init__("counter tablet not registered")
        self.message = _("This tablet is not registered at the counter. Name it first.")


def _token_hash(token: str) -> str:
    return hash_api_token(token)


def _row_view(row: dict) -> Device:
    return Device(
        id=row["id"],
        store_id=row["store"],
        name=row["name"],
        store_name=row.get("store_name") or "",
        created_at=row.get("created_at"),
        created_by_name=row.get("created_by_name") or "",
        revoked_at=row.get("revoked_at"),
        revoked_by_name=row.get("revoked_by_name") or "",
    )


def check_name(name: str) -> str:
    """The tablet's name as it will be stored, else ValidationFailed on "name"."""
    name = " ".join((name or "").split())
    if not name:
        raise ValidationFailed({"name": _("Give the tablet a name the staff will recognise, e.g. Counter 1.")})
    if len(name) > MAX_NAME:
        raise ValidationFailed({"name": _("At most %(n)s characters.") % {"n": MAX_NAME}})
    return name


async def register(actor: StaffUser, name: str) -> tuple[Device, str]:
    """Register the tablet the actor stands at for their store; returns it and the token for its cookie (audited)."""
    name = check_name(name)
    if actor.store_id is None:
        raise ValidationFailed({"name": _("Only staff of a store can register a counter tablet.")})
    token = secrets.token_urlsafe(32)
    async with transaction():
        new_id = await counter_sql.insert_device(actor.store_id, name, _token_hash(token), actor.id, datetime.now(UTC))
        await audit.record(actor, REGISTER, detail=f"#{new_id} {name}")
    device = Device(id=new_id, store_id=actor.store_id, name=name, store_name=actor.store_name or "")
    return device, token


async def from_token(token: str | None) -> Device | None:
    """The active tablet whose cookie holds `token`, or None."""
    if not token or len(token) > 100:
        return None
    digest = _token_hash(token)
    now = time.monotonic()
    cached = _cache.get(digest)
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    row = await counter_sql.active_device_by_token(digest)
    device = _row_view(row) if row is not None else None
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[digest] = (now, device)
    return device


def with_device(user: StaffUser, device: Device | None) -> StaffUser:
    """The request's actor carrying the tablet it works at (a tablet of another store is no tablet of theirs)."""
    if device is None or device.store_id != user.store_id:
        return user
    return replace(user, extra={**user.extra, _EXTRA_KEY: str(device.id), _EXTRA_KEY + "_name": device.name})


def device_id(actor: StaffUser) -> int | None:
    """The id of the tablet the actor works at, if any."""
    found = actor.extra.get(_EXTRA_KEY)
    return int(found) if found else None


def device_name(actor: StaffUser) -> str:
    """The name of the tablet the actor works at ("" when none)."""
    return actor.extra.get(_EXTRA_KEY + "_name", "")


def require(actor: StaffUser) -> int:
    """The actor's tablet id, else DeviceRequired."""
    found = device_id(actor)
    if found is None:
        raise DeviceRequired()
    return found


async def of_store(store_id: int) -> list[Device]:
    """The store's tablets, active first, newest first."""
    return [_row_view(row) for row in await counter_sql.devices_of_store(store_id)]


async def mark_revoked(actor: StaffUser, device_id_: int) -> bool:
    """In the caller's transaction: a tablet of the actor's store stops being trusted (audited); False if it was not
    active. `held_sales.revoke_device` holds its open carts in the same transaction."""
    done = await counter_sql.revoke_device(device_id_, actor.store_id, actor.id, datetime.now(UTC))
    if done:
        await audit.record(actor, REVOKE, detail=f"#{device_id_}")
    return done


async def revoked(actor: StaffUser, device_id_: int) -> Device:
    """The tablet after its revocation committed; this process stops trusting it at once."""
    found = await counter_sql.device_of_store(device_id_, actor.store_id)
    if found is None:
        raise NotFound(_("No counter tablet %(id)s in this store.") % {"id": device_id_})
    _cache.clear()
    return _row_view(found)
