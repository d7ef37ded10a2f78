"""The built-in journeys a chain starts with (on in the demo): chronic care, welcome, birthday, churn, BP, holidays."""

from __future__ import annotations

from app.components.care.definitions import Definition, Step

# condition → names, and the ATC groups of its medicines (antihypertensives sit in several).
_CHRONIC = {
    "hypertension": ("高血压慢病关怀", "Hypertension care", "C02 C03 C07 C08 C09"),
    "diabetes": ("糖尿病慢病关怀", "Diabetes care", "A10"),
    "dyslipidemia": ("血脂异常慢病关怀", "Dyslipidaemia care", "C10"),
}


def _chronic(code: str, name_zh: str, name_en: str, atc: str) -> dict[str, Definition]:
    care = Definition(
        name_zh,
        name_en,
        "care",
        "purchase",
        {"atc_prefix": atc, "category": ""},
        (
            Step(3, "10:00", "message", template="usage_note"),
            Step(30, "10:00", "task", task_kind="follow_up_call", role="pharmacist", skip_if=("task_open",)),
        ),
        holdout_pct=10,
    )
    refill = Definition(
        name_zh.replace("慢病关怀", "续药提醒"),
        name_en.replace("care", "refill reminder"),
        "care",
        "refill_due",
        {"lead_days": 5, "atc_prefix": atc},
        (Step(0, "10:00", "message", template="refill_reminder", coupon="REFILL5", skip_if=("repurchased",)),),
        holdout_pct=10,
    )
    return {f"{code}_care": care, f"{code}_refill": refill}


BUILTIN: dict[str, Definition] = {
    **{k: v for code, (zh, en, atc) in _CHRONIC.items() for k, v in _chronic(code, zh, en, atc).items()},
    "welcome": Definition(
        "新会员欢迎",
        "New member welcome",
        "service",
        "new_member",
        {},
        (Step(0, "10:00", "message", template="welcome", coupon="NEW10"),),
    ),
    "birthday": Definition(
        "生日祝福",
        "Birthday greeting",
        "marketing",
        "birthday",
        {"days_before": 0},
        (Step(0, "09:00", "message", template="birthday", coupon="BDAY20"),),
    ),
    "churn_chronic": Definition(
        "慢病患者流失预警",
        "Chronic patient churn warning",
        "care",
        "churn",
        {"days": 60},
        (Step(0, "10:00", "task", task_kind="churn_call", role="pharmacist", skip_if=("task_open",)),),
    ),
    "bp_out_of_range": Definition(
        "血压异常跟进",
        "Out-of-range blood pressure",
        "care",
        "vital",
        {"kind": "bp"},
        (Step(0, "00:00", "task", task_kind="bp_review", role="pharmacist", priority="urgent"),),
    ),
    "new_year": Definition(
        "新年问候",
        "New Year greeting",
        "marketing",
        "calendar",
        {"month": 1, "day": 1, "audience": "all"},
        (Step(0, "10:00", "message", template="holiday_greeting"),),
    ),
    "flu_season": Definition(
        "流感季健康提示",
        "Flu season advice",
        "care",
        "calendar",
        {"month": 11, "day": 1, "audience": "chronic"},
        (Step(0, "10:00", "message", template="flu_season"),),
    ),
    "confirm_details": Definition(
        "请核对您的资料",
        "Please confirm your details",
        "service",
        "unverified",
        {"months": 12},
        (Step(0, "10:00", "message", template="confirm_details"),),
    ),
}
