"""JSON API v1 for the catalog (bearer token): search products; create or update one by SKU for an ERP."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.params import FromQuery, JSONBody

from app.components import catalog
from app.components.core.roles import ALL_ROLES, CATALOG_WRITE_ROLES
from app.routes.api import schema as api_schema
from app.routes.api.schema import SECURITY
from app.routes.guards import requires_role
from app.routes.params import SearchLimit


@get("/products", guards=[requires_role(ALL_ROLES)], security=SECURITY, tags=["catalog"])
async def api_search_products(request: Request, q: FromQuery[str] = "", limit: SearchLimit = 20) -> dict:
    """Active products matching `q`: name, generic name, ATC prefix, SKU or any code (a whole scanned code
    first); at most `limit` (≤ 200). An empty `q` gives an empty list."""
    found = await catalog.search(q, limit=limit)
    return {"q": q, "products": [p.as_json() for p in found]}


@post(
    "/products",
    guards=[requires_role(CATALOG_WRITE_ROLES)],
    security=SECURITY,
    tags=["catalog"],
    responses={200: api_schema.replay("An existing SKU: the product, updated.")},
)
async def api_upsert_product(request: Request, data: JSONBody[catalog.ProductInput]) -> Response:
    """Create (201) or update (200) a product by SKU so an ERP keeps the catalog in step; 422 with field errors."""
    product, created = await catalog.upsert_product(data, actor=request.user)
    return Response({**product.as_json(), "created": created}, status_code=201 if created else 200)


ROUTES = [api_search_products, api_upsert_product]
