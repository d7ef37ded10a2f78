"""What a reading means: the vital kinds and their labels, the flags' thresholds, plausible bounds, BMI."""

from __future__ import annotations

from app.i18n import _

VITAL_KINDS = ("bp", "glucose", "weight", "height")
GLUCOSE_CONTEXTS = ("fasting", "post_meal_2h", "random")
VITAL_SOURCES = ("counter", "kiosk", "api", "import")


def vital_kind_label(kind: str) -> str:
    """A vital kind's name in the current language."""
    return {
        "bp": _("Blood pressure"),
        "glucose": _("Blood glucose"),
        "weight": _("Weight"),
        "height": _("Height"),
    }.get(kind, kind)


def glucose_context_label(context: str) -> str:
    """When a glucose reading was taken."""
    return {
        "fasting": _("fasting"),
        "post_meal_2h": _("2 h after a meal"),
        "random": _("random"),
    }.get(context, context)


def flag_label(flag: str) -> str:
    """An out-of-range flag's name."""
    return {"high": _("high"), "low": _("low")}.get(flag, "")


BP_HIGH = (140, 90)  # systolic ≥ 140 or diastolic ≥ 90
BP_LOW = (90, 60)  # systolic < 90 or diastolic < 60
GLUCOSE_HIGH = {"fasting": 7.0, "post_meal_2h": 11.1, "random": 11.1}  # mmol/L, at or above
GLUCOSE_LOW = 3.9  # mmol/L, below
# Chinese adult BMI cut-offs (WS/T 428): < 18.5 underweight, 24 overweight, 28 obese.
BMI_CUTOFFS = (18.5, 24.0, 28.0)
# Plausible input ranges: outside them the reading is a typing error, not a measurement.
BOUNDS: dict[str, tuple[float, float]] = {
    "systolic": (50, 260),
    "diastolic": (30, 160),
    "pulse": (30, 220),
    "glucose": (1.0, 35.0),
    "weight_kg": (1.0, 300.0),
    "height_cm": (40.0, 250.0),
}
MAX_AGE_DAYS = 3650  # a reading may be entered up to ten years after it was taken
CHART_DAYS = 365


def bp_flag(systolic: int, diastolic: int) -> str:
    """ "high", "low" or "" for a blood pressure reading."""
    if systolic >= BP_HIGH[0] or diastolic >= BP_HIGH[1]:
        return "high"
    if systolic < BP_LOW[0] or diastolic < BP_LOW[1]:
        return "low"
    return ""


def glucose_flag(value: float, context: str) -> str:
    """ "high", "low" or "" for a glucose reading in mmol/L taken in `context`."""
    if value < GLUCOSE_LOW:
        return "low"
    if value >= GLUCOSE_HIGH.get(context, GLUCOSE_HIGH["random"]):
        return "high"
    return ""


def bmi(weight_kg: float | None, height_cm: float | None) -> float | None:
    """Body-mass index, one decimal, or None without both measurements."""
    if not weight_kg or not height_cm:
        return None
    return round(weight_kg / (height_cm / 100) ** 2, 1)


def bmi_category(value: float) -> str:
    """underweight | normal | overweight | obese (Chinese adult cut-offs)."""
    low, over, obese = BMI_CUTOFFS
    if value < low:
        return "underweight"
    if value < over:
        return "normal"
    if value < obese:
        return "overweight"
    return "obese"


def bmi_category_label(category: str) -> str:
    """A BMI category's name."""
    return {
        "underweight": _("underweight"),
        "normal": _("normal weight"),
        "overweight": _("overweight"),
        "obese": _("obese"),
    }.get(category, category)
