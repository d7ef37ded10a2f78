"""Finding products: by SKU, by id, or by any code a scanner or a person types (EAN/GTIN, GS1 element string,
20-digit traceability code by its 7-digit prefix, SKU or alias), several codes in one query."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.components.catalog import queries
from app.components.catalog.cache import cached
from app.components.catalog.products import SKU_RE, ProductView, views
from app.components.core.errors import NotFound
from app.components.scanning import BadScan, Scan, parse_scan, scanned_text
from app.i18n import _


@dataclass(frozen=True)
class Resolved:
    """What a scanned or typed code named: the product and, for barcodes, what the code itself says."""

    product: ProductView
    scan: Scan | None


def _wanted(text: str) -> list[tuple[tuple[str, str], Scan | None]]:
    """The (via, key) pairs that may name the product of a typed or scanned text, first match wins, each with the
    reading of the text it stands for (None when the text is not a barcode): a GTIN by any code row, a traceability
    prefix by a `trace` row, other text by SKU or alias. A 20-digit code that reads both as GS1 and as a
    traceability code tries its prefix first (app.components.barcodes: the 20-digit rule)."""
    try:
        scan = parse_scan(text)
    except BadScan:
        # Not a barcode: perhaps a SKU or an alias (old supplier codes may even look like broken barcodes), also on
        # a plain Code 128 label read by a scanner that sends its symbology identifier.
        plain = scanned_text(text)
        return [(("sku", plain.upper()), None), (("alias", plain), None)] if plain else []
    readings = [scan] if scan.traceability_alternative is None else [scan.traceability_alternative, scan]
    return [
        ((("trace", r.product_key or "") if r.kind == "traceability" else ("code", r.gtin or "")), r) for r in readings
    ]


async def resolve_codes(raws: list[str]) -> list[Resolved | BadScan | NotFound]:
    """`resolve_code` for several codes in one query (none when the process has read them all already): for each,
    its Resolved or the error it would raise."""
    texts = [(raw or "").strip() for raw in raws]
    wanted = [_wanted(text) for text in texts]
    cache = await cached()
    # A text's first (via, key) pair wins: only a cached first pair answers without the database (a cached later
    # pair may be outranked by a product not in the cache, e.g. a SKU that is another product's alias).
    missing = [[pair for pair, _scan in pairs] for pairs in wanted if pairs and pairs[0][0] not in cache.owner]
    skus = sorted({key for pairs in missing for via, key in pairs if via == "sku"})
    codes = sorted({key for pairs in missing for via, key in pairs if via != "sku"})
    if skus or codes:
        cache.add(views(await queries.rows_by_skus_or_codes(skus, codes)))
    return [_resolved(text, pairs, cache.owner) for text, pairs in zip(texts, wanted, strict=True)]


def _resolved(
    text: str, pairs: list[tuple[tuple[str, str], Scan | None]], owner: dict[tuple[str, str], ProductView]
) -> Resolved | BadScan | NotFound:
    for pair, scan in pairs:
        if pair in owner:
            return Resolved(product=owner[pair], scan=scan)
    scan = pairs[-1][1] if pairs else None  # the reading used when the catalog knows none (GS1 for 20 digits)
    if scan is None:
        plain = scanned_text(text)
        if SKU_RE.fullmatch(plain.upper()) and not plain.isdigit():
            return NotFound(_("No product has the SKU or code %(code)s.") % {"code": plain})
        try:
            parse_scan(text)  # the parser's own message says what is wrong with the code
        except BadScan as exc:
            return exc
    assert scan is not None
    if scan.kind == "traceability":
        return NotFound(
            _("No product has the traceability prefix %(prefix)s (code %(code)s).")
            % {"prefix": scan.product_key, "code": scan.traceability_code}
        )
    assert scan.gtin is not None
    shown = scan.gtin[1:] if scan.gtin.startswith("0") else scan.gtin
    trace = scan.traceability_alternative
    if trace is not None:
        return NotFound(
            _("No product has the barcode %(code)s, nor the traceability prefix %(prefix)s (code %(trace)s).")
            % {"code": shown, "prefix": trace.product_key, "trace": trace.traceability_code}
        )
    return NotFound(_("No product has the barcode %(code)s.") % {"code": shown})


async def resolve_code(raw: str) -> Resolved:
    """The product any scannable code names: EAN/GTIN, GS1 element string, 20-digit traceability code (by its
    7-digit product prefix), SKU or alias. Inactive products resolve too (`active` says so; selling decides).

    Raises `BadScan` for an unreadable code and `NotFound` (naming the code) for a valid one nobody carries.
    """
    found = (await resolve_codes([raw]))[0]
    if isinstance(found, Exception):
        raise found
    return found


async def get_product(sku: str) -> ProductView:
    """The product with this SKU; NotFound naming it otherwise."""
    found = views(await queries.rows_by_sku((sku or "").strip().upper()))
    if not found:
        raise NotFound(_("No product has the SKU %(sku)s.") % {"sku": sku})
    return found[0]


async def products_by_ids(ids: Iterable[int]) -> dict[int, ProductView]:
    """Products by id (missing ids are left out)."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return {}
    cache = await cached()
    missing = [i for i in wanted if i not in cache.by_id]
    if missing:
        cache.add(views(await queries.rows_by_ids(missing)))
    return {i: cache.by_id[i] for i in wanted if i in cache.by_id}
