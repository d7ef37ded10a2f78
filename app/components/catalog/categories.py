"""One category standard across the chain (level 1: therapeutic area; level 2: kind of product), the Rx / OTC /
device classes and dosage forms, each with its label in the current language; how many products each category has."""

from __future__ import annotations

from app.components.catalog import queries
from app.i18n import _, pick

RX_CLASSES = ("Rx", "OTC", "device")


# One category standard across the chain: level 1 (therapeutic area, as shelves and reports group them) → English.
CATEGORIES_L1: dict[str, str] = {
    "感冒/流感": "Cold & flu",
    "感冒/过敏": "Cold & allergy",
    "抗感染": "Anti-infectives",
    "解热镇痛": "Pain & fever",
    "呼吸系统": "Respiratory",
    "消化系统": "Digestive",
    "心脑血管": "Cardiovascular",
    "糖尿病": "Diabetes",
    "内分泌": "Endocrine",
    "肝病": "Liver disease",
    "痛风": "Gout",
    "骨科": "Bone & joint",
    "肿瘤": "Oncology",
    "免疫": "Immunology",
    "皮肤": "Skin",
    "五官": "Eye, ear, nose & throat",
    "妇科": "Women's health",
    "儿科": "Children's health",
    "维矿物质": "Vitamins & minerals",
    "医疗器械": "Medical devices",
}
# Level 2: the kind of product.
CATEGORIES_L2: dict[str, str] = {
    "西药": "Western medicine",
    "中成药": "Chinese patent medicine",
    "生物制品": "Biologic",
    "器械": "Device",
    "保健品": "Health supplement",
}


def rx_class_label(code: str) -> str:
    """Rx, OTC or device in the current language."""
    return {"Rx": _("Rx (prescription only)"), "OTC": _("OTC"), "device": _("Device")}.get(code, code)


def category_l1_label(code: str) -> str:
    """A level-1 category in the current language (the stored Chinese name is the code)."""
    return pick(code, CATEGORIES_L1[code]) if code in CATEGORIES_L1 else code


def category_l2_label(code: str) -> str:
    """A level-2 category in the current language."""
    return pick(code, CATEGORIES_L2[code]) if code in CATEGORIES_L2 else code


def category_l1_code(text: str) -> str | None:
    """A level-1 category typed as its code (the Chinese name) or its English label, as its code; None if unknown."""
    return choice(text, CATEGORIES_L1)


def choice(value: str, choices: dict[str, str]) -> str | None:
    """A category given by its code (Chinese name) or English label, as its code."""
    text = value.strip()
    if text in choices:
        return text
    for code, label in choices.items():
        if text.casefold() == label.casefold():
            return code
    return None


def form_label(form: str) -> str:
    """A dosage form code of the catalog (capsule, tablet …) in the current language; other text as typed."""
    return {
        "capsule": _("capsules"),
        "tablet": _("tablets"),
        "sachet": _("sachets"),
        "inhaler": _("inhalers"),
        "pen": _("pens"),
        "syringe": _("syringes"),
        "strip": _("strips"),
        "mask": _("masks"),
        "device": _("devices"),
    }.get(form, form)


async def category_counts() -> list[tuple[str, int]]:
    """(level-1 category, number of products) for the filter, in the chain list's order."""
    rows = await queries.category_rows()
    counts = {r["category_l1"]: r["n"] for r in rows}
    order = list(CATEGORIES_L1) + sorted(k for k in counts if k not in CATEGORIES_L1)
    return [(c, counts[c]) for c in order if c in counts]
