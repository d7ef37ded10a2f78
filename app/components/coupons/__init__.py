"""Coupons: templates HQ defines, codes issued to members, their redemption and restoration on a return."""

from app.components.coupons.issuing import (
    CODE_ALPHABET,
    CODE_LENGTH,
    CouponLine,
    NewTemplate,
    create_template,
    evaluate,
    get_template,
    issue,
    normalize_code,
    print_codes,
    redeem_coupons,
    restore_coupons,
    seed_demo_coupons,
    templates,
    wallet,
)

__all__ = [
    "CODE_ALPHABET",
    "CODE_LENGTH",
    "CouponLine",
    "NewTemplate",
    "create_template",
    "evaluate",
    "get_template",
    "issue",
    "normalize_code",
    "print_codes",
    "redeem_coupons",
    "restore_coupons",
    "seed_demo_coupons",
    "templates",
    "wallet",
]
