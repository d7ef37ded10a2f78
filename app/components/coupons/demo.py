"""Demo coupon templates: new members, cold medicines, vitamins (stackable), the refill reminder's and birthday's."""

from __future__ import annotations

from datetime import UTC, datetime

from app.components.coupons import queries

DEMO_TEMPLATES = [
    # code, name_zh, name_en, kind, value (fen or percent), threshold (fen), scope, scope_value, stackable
    ("NEW10", "新会员满50减10", "¥10 off ¥50 (new members)", "amount", 1000, 5000, "all", "", False),
    ("COLD15", "感冒药85折", "15% off cold medicines", "percent", 15, 0, "category", "感冒/流感", False),
    ("VIT5", "维矿物质立减5元", "¥5 off vitamins and minerals", "amount", 500, 0, "category", "维矿物质", True),
    # Sent by the built-in journeys: the refill reminder's applies to the rest of the basket, never the Rx item.
    ("REFILL5", "续药关怀满30减5", "¥5 off ¥30 with your refill", "amount", 500, 3000, "all", "", False),
    ("BDAY20", "生日满100减20", "Birthday: ¥20 off ¥100", "amount", 2000, 10000, "all", "", False),
]


async def seed_demo_coupons() -> int:
    """The demo coupon templates (idempotent); returns how many templates exist afterwards."""
    now = datetime.now(UTC)
    for code, zh, en, kind, value, threshold, scope, scope_value, stackable in DEMO_TEMPLATES:
        await queries.insert_template_if_missing(
            (code, zh, en, kind, value, threshold, scope, scope_value, None, None, 90, 1, stackable, True, True, now)
        )
    return await queries.count_templates()
