"""Batches and their states: available, quarantined, recalled, and "expired" as every list shows a batch past its
expiry; one batch's view, a product's batches in a store, and status changes (audited)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from app.components import audit
from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.core.errors import NotFound, ValidationFailed
from app.components.stock import queries
from app.db import as_date, transaction
from app.i18n import _, pick

AVAILABLE, QUARANTINED, RECALLED = "available", "quarantined", "recalled"
STATUSES = (AVAILABLE, QUARANTINED, RECALLED)
# Not a stored status: what a list shows for a batch past its expiry (see `batch_state`).
EXPIRED = "expired"
STATUS_ACTION = "stock.batch_status"


def status_label(status: str) -> str:
    """A batch status (or the shown state "expired") in the current language."""
    return {
        AVAILABLE: _("Available"),
        QUARANTINED: _("Quarantined"),
        RECALLED: _("Recalled"),
        EXPIRED: _("Expired"),
    }.get(status, status)


def batch_state(status: str, expiry: date, today: date | None = None) -> str:
    """What every batch list shows: a recall first (it is final), then "expired" once the expiry date is before
    the store's today (whatever the stored status says), else the stored status. The sale's allocation applies
    the same rule: a batch sells only while its expiry is today or later."""
    if status == RECALLED:
        return RECALLED
    if expiry < (today or store_today()):
        return EXPIRED
    return status


def product_name(row: dict) -> str:
    """A row's product name (`name_zh`, `name_en`) in the current language."""
    return pick(row["name_zh"], row["name_en"] or row["name_zh"])


@dataclass(frozen=True)
class BatchView:
    """One batch as shown and returned by the API. `replayed` is True when a receipt key had been seen before."""

    id: int
    store_id: int
    store_code: str
    product_id: int
    sku: str
    product_name: str
    batch_no: str
    expiry: date
    status: str
    on_hand: int
    received_at: datetime | None = None
    replayed: bool = False

    @property
    def expired(self) -> bool:
        return self.expiry < store_today()

    @property
    def state(self) -> str:
        """available | quarantined | recalled | expired, as lists show it (`batch_state`)."""
        return batch_state(self.status, self.expiry)

    @property
    def sellable(self) -> bool:
        return self.state == AVAILABLE and self.on_hand > 0

    @property
    def may_write_off(self) -> bool:
        """Stock that may not be sold (expired, quarantined, recalled) and is still on the shelf."""
        return self.state != AVAILABLE and self.on_hand > 0

    def as_json(self) -> dict:
        """The API's body for a batch."""
        return {
            "batch_id": self.id,
            "store": self.store_code,
            "product": self.sku,
            "product_name": self.product_name,
            "batch": self.batch_no,
            "expiry": self.expiry.isoformat(),
            "status": self.status,
            "state": self.state,  # what the lists show: "expired" once past its expiry, whatever `status` says
            "on_hand": self.on_hand,
        }


def batch_view(row: dict, replayed: bool = False) -> BatchView:
    """A row of `queries.BATCH_SELECT` as a view."""
    return BatchView(
        id=row["id"],
        store_id=row["store_id"],
        store_code=row["store_code"],
        product_id=row["product_id"],
        sku=row["sku"],
        product_name=product_name(row),
        batch_no=row["batch_no"],
        expiry=as_date(row["expiry"]),  # type: ignore[arg-type]
        status=row["status"],
        on_hand=row["on_hand"],
        received_at=row["received_at"],
        replayed=replayed,
    )


async def get_batch(batch_id: int, store_id: int | None = None) -> BatchView:
    """One batch; NotFound when it does not exist or (with `store_id`) belongs to another store."""
    row = await queries.batch_row(batch_id)
    if row is None or (store_id is not None and row["store_id"] != store_id):
        raise NotFound(_("No stock batch %(id)s in this store.") % {"id": batch_id})
    return batch_view(row)


async def product_batches(store_id: int, product_id: int) -> list[BatchView]:
    """Every batch of one product in one store, first expiry first."""
    return [batch_view(r) for r in await queries.product_batch_rows(store_id, product_id)]


async def set_batch_status(batch_id: int, status: str, reason: str, actor: StaffUser) -> BatchView:
    """Quarantine, recall or release a batch, with a reason (audited). A recalled batch stays recalled; an expired
    one is never released.

    A store's staff may change only their own store's batches (others are NotFound).
    """
    errors = {}
    if status not in STATUSES:
        errors["status"] = _("Choose available, quarantined or recalled.")
    if not (reason or "").strip():
        errors["reason"] = _("Say why the batch status changes.")
    if errors:
        raise ValidationFailed(errors)
    async with transaction():
        view = await get_batch(batch_id, actor.store_id)
        if view.status == status:
            return view
        if view.status == RECALLED:
            raise ValidationFailed({"status": _("A recalled batch stays recalled.")})
        if status == AVAILABLE and view.expired:
            raise ValidationFailed({"status": _("An expired batch cannot be released: write it off instead.")})
        await queries.set_status(batch_id, status)
        await audit.record(
            actor,
            STATUS_ACTION,
            None,
            f"{view.store_code} {view.sku} batch {view.batch_no} (#{view.id}): {view.status} → {status}; "
            f"{reason.strip()}"[:500],
        )
        return await get_batch(batch_id)
