"""JSON API v1 for stock (bearer token): receive a delivery into a store once per key."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Request, Response, post
from litestar.params import JSONBody

from app.components import stock
from app.components.core.roles import STOCK_ROLES
from app.routes.api import schema as api_schema
from app.routes.api.schema import SECURITY
from app.routes.guards import requires_role

write_guard = [requires_role(STOCK_ROLES)]


@dataclass
class ReceiptIn:
    """A delivery: `product` is a SKU or any scannable code (GTIN, GS1 string — which may also carry batch and
    expiry), `store` a store code (a store manager's token may leave it empty: their own store), `expiry`
    YYYY-MM-DD, `qty` packs > 0, `key` makes a retry return the first result (200) instead of adding again."""

    product: str = ""
    store: str = ""
    batch: str = ""
    expiry: str = ""
    qty: int | str | None = None
    key: str = ""


@post(
    "/stock/receipts",
    guards=write_guard,
    security=SECURITY,
    tags=["stock"],
    responses={200: api_schema.replay()},
)
async def api_receive(request: Request, data: JSONBody[ReceiptIn]) -> Response:
    """Receive stock into a store: 201 with the batch and its `on_hand`; the same `key` again → 200, same body;
    422 with field errors (unknown store or product, expired, qty ≤ 0, another store than the token's own)."""
    view = await stock.receive(
        stock.Receipt(
            store_code=data.store or (request.user.store_code or ""),
            product=data.product,
            batch_no=data.batch,
            expiry=data.expiry,
            qty="" if data.qty is None else data.qty,
            key=data.key,
        ),
        actor=request.user,
    )
    return Response(view.as_json(), status_code=200 if view.replayed else 201)


ROUTES = [api_receive]
