"""Coupon codes: 12 symbols of an alphabet without 0/O and 1/I/L (60 bits, unguessable, not misread from
paper), normalised as a person may type them."""

from __future__ import annotations

import re
import secrets

# No 0/O, 1/I/L: a code read aloud or typed from paper is not mistaken. 32 symbols × 12 = 60 bits.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12


def new_code() -> str:
    """An unguessable coupon code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(raw: str) -> str:
    """Upper-case, without spaces or dashes (as printed codes may be typed)."""
    return re.sub(r"[\s\-]", "", raw or "").upper()
