"""The catalog pages: the list, a product's card and edit, a new product, product import and export."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from app.components import catalog, imports
from app.components.allergies import allergen_classes, class_label
from app.components.core.errors import ValidationFailed
from app.components.core.roles import CATALOG_READ_ROLES, CATALOG_WRITE_ROLES
from app.i18n import _
from app.routes.guards import requires_role
from app.routes.params import Page
from app.routes.render import FORM, render
from app.routes.uploads import MULTIPART, UPLOAD_LIMIT, attachment, chunks

read_guard = [requires_role(CATALOG_READ_ROLES)]
write_guard = [requires_role(CATALOG_WRITE_ROLES)]


@get("/catalog", guards=read_guard)
async def catalog_page(
    request: Request, q: FromQuery[str] = "", category: FromQuery[str] = "", page: Page = 1
) -> Template:
    """The catalog: search by name, code or ATC prefix, filter by level-1 category, page through."""
    result = await catalog.list_products(q, category, page=page)
    ctx = {
        "result": result,
        "q": q,
        "category": category,
        "categories": [(c, catalog.category_l1_label(c), n) for c, n in await catalog.category_counts()],
        "can_edit": request.user.role in CATALOG_WRITE_ROLES,
    }
    return render(request, "manager/catalog.html", ctx, block="catalog_results")


@dataclass
class ProductForm:
    """The edit form: every field as typed; an unticked box is absent, so it means "no"."""

    sku: str = ""
    name_zh: str = ""
    name_en: str = ""
    generic_zh: str = ""
    generic_en: str = ""
    atc: str = ""
    allergen_classes: str = ""
    substance: str = ""
    rx_class: str = ""
    category_l1: str = ""
    category_l2: str = ""
    form: str = ""
    price_yuan: str = ""
    pack_units: str = ""
    units_per_day: str = ""
    cold_chain: str = ""
    dtp: str = ""
    points_excluded: str = ""
    active: str = ""
    gtins: str = ""
    trace_prefixes: str = ""
    aliases: str = ""
    counselling_zh: str = ""
    counselling_en: str = ""


def _form_from(product: catalog.ProductView) -> ProductForm:
    kinds: dict[str, list[str]] = {"gtin": [], "trace": [], "alias": []}
    for kind, code in product.code_kinds:
        # GTIN-14s with a leading zero are shown as the EAN-13 printed on the pack.
        kinds.setdefault(kind, []).append(code.removeprefix("0") if kind == "gtin" and len(code) == 14 else code)
    own = product.knowledge.get("counselling")
    own = own if isinstance(own, dict) else {}
    return ProductForm(
        sku=product.sku,
        name_zh=product.name_zh,
        name_en=product.name_en,
        generic_zh=product.generic_zh,
        generic_en=product.generic_en,
        atc=product.atc,
        allergen_classes=" ".join(product.allergen_classes),
        substance=product.substance,
        rx_class=product.rx_class,
        category_l1=product.category_l1,
        category_l2=product.category_l2,
        form=product.form,
        price_yuan=f"{product.price // 100}.{product.price % 100:02d}",
        pack_units=str(product.pack_units),
        units_per_day=f"{product.units_per_day:g}",
        cold_chain="on" if product.cold_chain else "",
        dtp="on" if product.dtp else "",
        points_excluded="on" if product.points_excluded else "",
        active="on" if product.active else "",
        gtins=" ".join(kinds["gtin"]),
        trace_prefixes=" ".join(kinds["trace"]),
        aliases=" ".join(kinds["alias"]),
        counselling_zh=str(own.get("zh", "")),
        counselling_en=str(own.get("en", "")),
    )


def _input_from(form: ProductForm, product: catalog.ProductView | None) -> catalog.ProductInput:
    values = {k: v for k, v in asdict(form).items() if k not in ("counselling_zh", "counselling_en")}
    knowledge = dict(product.knowledge) if product else {}
    if form.counselling_zh.strip() or form.counselling_en.strip():
        knowledge["counselling"] = {"zh": form.counselling_zh.strip(), "en": form.counselling_en.strip()}
    else:
        knowledge.pop("counselling", None)
    return catalog.ProductInput(**values, knowledge=knowledge)


def _choices() -> dict[str, Any]:
    return {
        "rx_classes_opts": [(code, catalog.rx_class_label(code)) for code in catalog.RX_CLASSES],
        "allergen_label": class_label,
        "rx_class_label": catalog.rx_class_label,
        "categories_l1": [(c, catalog.category_l1_label(c)) for c in catalog.CATEGORIES_L1],
        "categories_l2": [(c, catalog.category_l2_label(c)) for c in catalog.CATEGORIES_L2],
        "allergen_choices": [(c.code, c.label) for c in allergen_classes().values() if c.category == "medication"],
    }


def _product_ctx(
    request: Request,
    product: catalog.ProductView | None,
    form: ProductForm | None = None,
    errors: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    can_edit = request.user.role in CATALOG_WRITE_ROLES
    return {
        "product": product,
        "card": catalog.knowledge_card(product) if product else None,
        "can_edit": can_edit,
        "form": form or (_form_from(product) if product else ProductForm(active="on")),
        "errors": errors or {},
        **_choices(),
        **extra,
    }


@get("/catalog/new", guards=write_guard)
async def product_new(request: Request) -> Template:
    """An empty product form."""
    return render(request, "manager/catalog_product.html", _product_ctx(request, None))


@post("/catalog/new", guards=write_guard)
async def product_create(request: Request, data: Annotated[ProductForm, FORM]) -> Template | Redirect:
    """Create a product; a SKU that exists already is refused here (edit it on its own page)."""
    try:
        product, _created = await catalog.upsert_product(_input_from(data, None), actor=request.user, create_only=True)
    except ValidationFailed as exc:
        ctx = _product_ctx(request, None, data, exc.errors)
        return render(request, "manager/catalog_product.html", ctx, status_code=422)
    return Redirect(f"/manager/catalog/{product.sku}?saved=1", status_code=303)


@get("/catalog/{sku:str}", guards=read_guard)
async def product_page(request: Request, sku: FromPath[str], saved: FromQuery[str] = "") -> Template:
    """A product: its data, codes and knowledge card; HQ admins edit it here."""
    product = await catalog.get_product(sku)
    return render(request, "manager/catalog_product.html", _product_ctx(request, product, saved=bool(saved)))


@post("/catalog/{sku:str}", guards=write_guard)
async def product_save(request: Request, sku: FromPath[str], data: Annotated[ProductForm, FORM]) -> Template:
    """Save the edit form; field errors come back on the form with everything typed kept."""
    product = await catalog.get_product(sku)
    data.sku = product.sku  # the SKU names the product; it is not edited here
    try:
        product, _created = await catalog.upsert_product(_input_from(data, product), actor=request.user)
    except ValidationFailed as exc:
        ctx = _product_ctx(request, product, data, exc.errors)
        return render(request, "manager/catalog_product.html", ctx, block="product_form", status_code=422)
    ctx = _product_ctx(request, product, saved=True)
    return render(request, "manager/catalog_product.html", ctx, block="product_form")


# ---------------------------------------------------------------- import


async def _import_ctx(**extra: Any) -> dict[str, Any]:
    return {
        "jobs": await imports.recent_product_imports(),
        "columns": [(imports.PRODUCT_COLUMN_BY_KEY[k], text) for k, text in imports.product_column_help()],
        "errors": {},
        **extra,
    }


@get("/catalog/import", guards=write_guard)
async def import_page(request: Request) -> Template:
    """Upload a product file; the accepted columns and recent catalog imports."""
    return render(request, "manager/catalog_import.html", await _import_ctx())


@post("/catalog/import", guards=write_guard, request_max_body_size=UPLOAD_LIMIT)
async def import_upload(request: Request, data: Annotated[dict[str, Any], MULTIPART]) -> Response | Template:
    """Import the file at once and show its report; errors come back on the form."""
    upload = data.get("file") if isinstance(data, dict) else None
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed({"file": _("Choose a .xlsx or .csv file to upload.")})
        try:
            job = await imports.import_products(request.user, upload.filename, chunks(upload))
        finally:
            await upload.close()
    except ValidationFailed as exc:
        return render(request, "manager/catalog_import.html", await _import_ctx(errors=exc.errors), status_code=422)
    return Redirect(f"/manager/catalog/import/{job.key}", status_code=303)


@get("/catalog/import/template", guards=write_guard)
async def import_template(request: Request) -> Response:
    """The empty template (.csv) with the header row in the current language."""
    return Response(
        imports.product_template_csv(),
        media_type="text/csv; charset=utf-8",
        headers=attachment("yaoshi-catalog-template.csv"),
    )


@get("/catalog/export.csv", guards=read_guard)
async def export_catalog(request: Request) -> Response:
    """The whole catalog as CSV in the import's columns: edit it in Excel and import it again."""
    return Response(
        await imports.export_products_csv(),
        media_type="text/csv; charset=utf-8",
        headers=attachment("yaoshi-catalog.csv"),
    )


@get("/catalog/import/{job_key:str}", guards=write_guard)
async def import_job(request: Request, job_key: FromPath[str]) -> Template:
    """What an import did: created, updated, unchanged and rejected rows."""
    job = await imports.product_import_job(job_key)
    return render(request, "manager/catalog_import_job.html", {"job": job})


@get("/catalog/import/{job_key:str}/rejected.csv", guards=write_guard)
async def import_rejected(request: Request, job_key: FromPath[str]) -> Response:
    """The rejected rows with a reason column, to fix and import again."""
    body = await imports.rejected_products_csv(job_key)
    return Response(body, media_type="text/csv; charset=utf-8", headers=attachment(f"rejected-{job_key[:8]}.csv"))


ROUTES = [catalog_page, product_new, product_create]
ROUTES += [
    import_page,
    import_upload,
    import_template,
    export_catalog,
    import_job,
    import_rejected,
    product_page,
    product_save,
]
