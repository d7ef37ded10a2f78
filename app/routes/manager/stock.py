"""Stock pages for managers (phone) and the receipts API: stock, deliveries, batch status, expiry, returned packs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from app.components import catalog, sales, scanning, stock
from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.components.core.roles import HQ_ROLES, STOCK_ROLES
from app.i18n import _
from app.routes.guards import requires_role
from app.routes.params import Page, RowId
from app.routes.render import FORM, render, wants_partial

write_guard = [requires_role(STOCK_ROLES)]
EXPIRING_DAYS = (30, 60, 90, 180)


# ---------------------------------------------------------------- scope


async def _scope(user: StaffUser, store_code: str) -> tuple[dict | None, list[dict]]:
    """(the store the page shows, the stores HQ may pick from). A store's staff always get their own store."""
    all_stores = await stock.stores()
    if user.role not in HQ_ROLES:
        own = [s for s in all_stores if s["id"] == user.store_id]
        return (own[0] if own else None), []
    chosen = [s for s in all_stores if s["code"] == store_code.strip()]
    if store_code.strip() and not chosen:
        raise NotFound(_("No store with code %(code)s.") % {"code": store_code.strip()})
    return (chosen[0] if chosen else (all_stores[0] if all_stores else None)), all_stores


def _may_write(user: StaffUser) -> bool:
    return user.role in STOCK_ROLES


# ---------------------------------------------------------------- stock list


@get("/stock")
async def stock_page(request: Request, store: FromQuery[str] = "", q: FromQuery[str] = "", page: Page = 1) -> Template:
    """The store's stock per product (sellable, held back, nearest expiry) and the returned packs waiting in
    quarantine; HQ picks the store."""
    current, stores = await _scope(request.user, store)
    ctx = await _stock_ctx(request, current, stores, q, page)
    return render(request, "manager/stock.html", ctx, block="stock_results")


async def _stock_ctx(
    request: Request, current: dict | None, stores: list[dict], q: str = "", page: int = 1, **returned: Any
) -> dict[str, Any]:
    result = await stock.store_stock(current["id"], q, page) if current else None
    return {
        "store": current,
        "stores": stores,
        "result": result,
        "q": q,
        "may_write": _may_write(request.user),
        **await _returned_ctx(request, current, **returned),
    }


# ---------------------------------------------------------------- returned packs in quarantine


async def _returned_ctx(request: Request, store: dict | None, **extra: Any) -> dict[str, Any]:
    """What the returned-packs region needs: the packs held, the latest decided, the chain's rule."""
    held = await stock.returned_packs(store["id"]) if store else []
    decided = await stock.returned_packs(store["id"], held=False, limit=10) if store else []
    settings = await sales.counter_settings()
    return {
        "returned_store": store,
        "held_packs": held,
        "decided_packs": decided,
        "pack_status_label": stock.pack_status_label,
        "restricted_rule_label": sales.restricted_returns_label(settings.restricted_returns),
        "may_decide": _may_write(request.user),
        "pack_errors": {},
        "pack_form": {},
        "failed_pack": None,
        "decided": None,
        **extra,
    }


@dataclass
class PackForm:
    """A manager's decision on a returned pack: why."""

    reason: str = ""


async def _pack_decision(request: Request, pack_id: int, data: PackForm, release: bool) -> Template:
    pack = await stock.returned_pack(pack_id, None if request.user.role in HQ_ROLES else request.user.store_id)
    store, stores = await _scope(request.user, pack.store_code)
    outcome: dict[str, Any] = {}
    status = 200
    try:
        decide = stock.release_returned if release else stock.write_off_returned
        outcome["decided"] = await decide(pack_id, data.reason, request.user)
    except ValidationFailed as exc:
        outcome = {"pack_errors": exc.errors, "pack_form": data.__dict__, "failed_pack": pack_id}
        status = 422
    if wants_partial(request):  # the region alone needs only its own context
        ctx = await _returned_ctx(request, store, **outcome)
    else:  # a plain form post (no script): the whole stock page with the outcome
        ctx = await _stock_ctx(request, store, stores, **outcome)
    return render(request, "manager/stock.html", ctx, block="returned_packs", status_code=status)


@post("/stock/returned/{pack_id:int}/release", guards=write_guard)
async def release_pack(request: Request, pack_id: FromPath[int], data: Annotated[PackForm, FORM]) -> Template:
    """Release a returned pack back to its batch's sellable stock (with a reason, audited)."""
    return await _pack_decision(request, pack_id, data, release=True)


@post("/stock/returned/{pack_id:int}/write-off", guards=write_guard)
async def write_off_pack(request: Request, pack_id: FromPath[int], data: Annotated[PackForm, FORM]) -> Template:
    """Write a returned pack off: it never goes back to stock (with a reason, audited)."""
    return await _pack_decision(request, pack_id, data, release=False)


@get("/stock/products/{sku:str}")
async def product_page(request: Request, sku: FromPath[str], store: FromQuery[str] = "") -> Template:
    """Every batch of one product in the store, with status changes and counts for those who may."""
    current, stores = await _scope(request.user, store)
    product = await catalog.get_product(sku)
    return render(request, "manager/stock_product.html", await _product_ctx(request, current, stores, product))


async def _product_ctx(
    request: Request, current: dict | None, stores: list[dict], product: Any, **extra: Any
) -> dict[str, Any]:
    batches = await stock.product_batches(current["id"], product.id) if current else []
    return {
        "store": current,
        "stores": stores,
        "product": product,
        "batches": batches,
        "may_write": _may_write(request.user),
        "status_label": stock.status_label,
        "errors": {},
        "failed_batch": None,
        "failed_form": None,
        "form": {},
        "changed": None,
        "count_key": uuid.uuid4().hex,
        **extra,
    }


@dataclass
class BatchListForm:
    """Which list a batch action was taken on: "expiring" (that list comes back, with its `store` and `days`), else
    the product's batches."""

    back: str = ""
    store: str = ""
    days: str = ""


@dataclass
class StatusForm(BatchListForm):
    """A batch status change: `status` available (release) | quarantined | recalled, with a reason."""

    status: str = ""
    reason: str = ""


@dataclass
class WriteOffForm(BatchListForm):
    """Write off what is left of a batch that may not be sold, with a reason; `key` makes a double tap count once."""

    reason: str = ""
    key: str = ""


@dataclass
class CountForm:
    """A counted correction of one batch; `key` makes a double tap count once."""

    counted: str = ""
    reason: str = ""
    key: str = ""


async def _batch_in_scope(request: Request, batch_id: int) -> stock.BatchView:
    return await stock.get_batch(batch_id, None if request.user.role in HQ_ROLES else request.user.store_id)


async def _after_batch_change(
    request: Request,
    batch: stock.BatchView,
    errors: dict[str, str] | None = None,
    form: dict | None = None,
    failed_form: str | None = None,
) -> Template:
    """The list the change was made on, again: the expiring list or the product's batches, with the message."""
    form = form or {}
    outcome = {
        "errors": errors or {},
        "failed_batch": batch.id if errors else None,
        "failed_form": failed_form,
        "form": form,
        "changed": None if errors else batch.id,
    }
    status_code = 422 if errors else 200
    if form.get("back") == "expiring":
        ctx = await _expiring_ctx(request.user, str(form.get("store") or ""), str(form.get("days") or ""), **outcome)
        return render(request, "manager/stock_expiring.html", ctx, block="expiring_results", status_code=status_code)
    current = {"id": batch.store_id, "code": batch.store_code}
    product = await catalog.get_product(batch.sku)
    ctx = await _product_ctx(request, current, [], product, **outcome)
    return render(request, "manager/stock_product.html", ctx, block="batches", status_code=status_code)


@post("/stock/batches/{batch_id:int}/status", guards=write_guard)
async def change_status(request: Request, batch_id: RowId, data: Annotated[StatusForm, FORM]) -> Template:
    """Quarantine, recall or release a batch (with a reason, audited); a recalled batch stays recalled."""
    batch = await _batch_in_scope(request, batch_id)
    try:
        batch = await stock.set_batch_status(batch_id, data.status, data.reason, request.user)
    except ValidationFailed as exc:
        return await _after_batch_change(request, batch, exc.errors, data.__dict__, "status")
    return await _after_batch_change(request, batch, form={"back": data.back, "store": data.store, "days": data.days})


@post("/stock/batches/{batch_id:int}/write-off", guards=write_guard)
async def write_off_batch(request: Request, batch_id: FromPath[int], data: Annotated[WriteOffForm, FORM]) -> Template:
    """Write off what is left of an expired, quarantined or recalled batch (a stock move out, with a reason,
    audited); a sellable batch is refused next to the reason."""
    batch = await _batch_in_scope(request, batch_id)
    try:
        batch = await stock.write_off(batch_id, data.reason, request.user, key=data.key)
    except ValidationFailed as exc:
        return await _after_batch_change(request, batch, exc.errors, data.__dict__, "write_off")
    return await _after_batch_change(request, batch, form=data.__dict__)


@post("/stock/batches/{batch_id:int}/count", guards=write_guard)
async def count_batch(request: Request, batch_id: RowId, data: Annotated[CountForm, FORM]) -> Template:
    """Correct a batch to what was counted on the shelf (with a reason, audited)."""
    batch = await _batch_in_scope(request, batch_id)
    try:
        batch = await stock.adjust(batch_id, data.counted, data.reason, request.user, key=data.key)
    except ValidationFailed as exc:
        return await _after_batch_change(request, batch, exc.errors, data.__dict__, "count")
    return await _after_batch_change(request, batch)


# ---------------------------------------------------------------- receiving a delivery


@dataclass
class ReceiveForm:
    """The delivery form as typed; `key` is minted with the form so a double tap receives once."""

    product: str = ""
    store: str = ""
    batch: str = ""
    expiry: str = ""
    qty: str = ""
    key: str = ""


async def _receive_ctx(request: Request, form: ReceiveForm, **extra: Any) -> dict[str, Any]:
    current, stores = await _scope(request.user, form.store)
    if current and not form.store:
        form.store = current["code"]
    return {
        "form": form,
        "store": current,
        "stores": stores,
        "errors": {},
        "received": None,
        "found": None,
        **extra,
    }


async def _fill_from_scan(form: ReceiveForm) -> tuple[ReceiveForm, Any, dict[str, str]]:
    """A scanned carton code fills product, batch and expiry at once; the product field then shows the SKU."""
    if not form.product.strip():
        return form, None, {}
    try:
        resolved = await catalog.resolve_code(form.product)
    except (scanning.BadScan, NotFound) as exc:
        return form, None, {"product": exc.message}
    scan = resolved.scan
    if scan is not None:
        if scan.batch and not form.batch:
            form.batch = scan.batch
        if scan.expiry and not form.expiry:
            form.expiry = scan.expiry.isoformat()
    form.product = resolved.product.sku
    return form, resolved.product, {}


@get("/stock/receive", guards=write_guard)
async def receive_page(
    request: Request,
    product: FromQuery[str] = "",
    store: FromQuery[str] = "",
    batch: FromQuery[str] = "",
    expiry: FromQuery[str] = "",
    qty: FromQuery[str] = "",
    key: FromQuery[str] = "",
) -> Template:
    """The delivery form. With a scanned `product` (htmx on change) it comes back filled from the code."""
    form = ReceiveForm(product, store, batch, expiry, qty, key or uuid.uuid4().hex)
    form, found, errors = await _fill_from_scan(form)
    ctx = await _receive_ctx(request, form, found=found, errors=errors)
    return render(request, "manager/stock_receive.html", ctx, block="receive_form", status_code=422 if errors else 200)


@post("/stock/receive", guards=write_guard)
async def receive_submit(request: Request, data: Annotated[ReceiveForm, FORM]) -> Template:
    """Receive the delivery; then an empty form (new key) under a notice naming the batch and its stock.
    Errors come back next to the fields (422) with everything typed kept."""
    key = data.key or uuid.uuid4().hex
    try:
        view = await stock.receive(
            stock.Receipt(
                store_code=data.store or (request.user.store_code or ""),
                product=data.product,
                batch_no=data.batch,
                expiry=data.expiry,
                qty=data.qty,
                key=key,
            ),
            actor=request.user,
        )
    except ValidationFailed as exc:
        data.key = key
        ctx = await _receive_ctx(request, data, errors=exc.errors)
        return render(request, "manager/stock_receive.html", ctx, block="receive_form", status_code=422)
    fresh = ReceiveForm(store=view.store_code, key=uuid.uuid4().hex)
    ctx = await _receive_ctx(request, fresh, received=view)
    return render(request, "manager/stock_receive.html", ctx, block="receive_form", status_code=200)


# ---------------------------------------------------------------- expiring soon


async def _expiring_ctx(user: StaffUser, store: str, days: int | str, **extra: Any) -> dict[str, Any]:
    """The expiring list's page: the store's batches (HQ: every store, or the one picked) within `days`."""
    text = str(days).strip()
    within = int(text) if text.isdigit() and int(text) in EXPIRING_DAYS else 90
    stores: list[dict] = []
    current = None
    if user.role in HQ_ROLES:
        stores = await stock.stores()
        if store.strip():
            current, _ignored = await _scope(user, store)
    else:
        current, _ignored = await _scope(user, "")
    batches = await stock.expiring(current["id"] if current else None, within) if (current or stores) else []
    return {
        "store": current,
        "stores": stores,
        "batches": batches,
        "days": within,
        "choices": EXPIRING_DAYS,
        "status_label": stock.status_label,
        "may_write": _may_write(user),
        "action_key": uuid.uuid4().hex,
        "errors": {},
        "failed_batch": None,
        "failed_form": None,
        "form": {},
        "changed": None,
        **extra,
    }


@get("/stock/expiring")
async def expiring_page(request: Request, store: FromQuery[str] = "", days: FromQuery[int] = 90) -> Template:
    """Batches with stock expiring within `days` (expired ones first, marked expired, with their quarantine and
    write-off actions for those who may), for the store or, for HQ, every store."""
    ctx = await _expiring_ctx(request.user, store, days)
    return render(request, "manager/stock_expiring.html", ctx, block="expiring_results")


ROUTES = [stock_page, product_page, change_status, write_off_batch, count_batch, receive_page]
ROUTES += [receive_submit, expiring_page, release_pack, write_off_pack]
