"""Coupons: templates HQ defines, codes issued to members, their redemption and restoration on a return."""

from app.components.coupons.codes import CODE_ALPHABET, CODE_LENGTH, new_code, normalize_code
from app.components.coupons.demo import seed_demo_coupons
from app.components.coupons.discounts import AppliedCoupon, CouponLine, CouponResult, evaluate, share
from app.components.coupons.issuing import COUPON_ISSUE, Issued, issue
from app.components.coupons.printing import COUPON_PRINT, MAX_PRINT, print_codes
from app.components.coupons.redemption import redeem_coupons, restore_coupons
from app.components.coupons.templates import (
    TEMPLATE_CREATE,
    NewTemplate,
    TemplateView,
    create_template,
    get_template,
    templates,
)
from app.components.coupons.wallet import WalletCoupon, wallet

__all__ = [
    "CODE_ALPHABET",
    "CODE_LENGTH",
    "COUPON_ISSUE",
    "COUPON_PRINT",
    "MAX_PRINT",
    "TEMPLATE_CREATE",
    "AppliedCoupon",
    "CouponLine",
    "CouponResult",
    "Issued",
    "NewTemplate",
    "TemplateView",
    "WalletCoupon",
    "create_template",
    "evaluate",
    "get_template",
    "issue",
    "new_code",
    "normalize_code",
    "print_codes",
    "redeem_coupons",
    "restore_coupons",
    "seed_demo_coupons",
    "share",
    "templates",
    "wallet",
]
