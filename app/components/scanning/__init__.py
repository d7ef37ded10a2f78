"""Scanning: what a scanner's burst is (GS1 element strings, EAN/UPC, Chinese drug traceability codes, member cards)."""

from app.components.scanning.barcodes import (
    GS,
    TRACEABILITY_PRODUCT_DIGITS,
    BadScan,
    Scan,
    gs1_check_digit,
    has_valid_check_digit,
    parse_scan,
    scanned_text,
    synthetic_gtin13,
)

__all__ = [
    "GS",
    "TRACEABILITY_PRODUCT_DIGITS",
    "BadScan",
    "Scan",
    "gs1_check_digit",
    "has_valid_check_digit",
    "parse_scan",
    "scanned_text",
    "synthetic_gtin13",
]
