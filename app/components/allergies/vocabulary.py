"""The coded allergen vocabulary: classes, their substances, and the FHIR-style value sets."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from app.i18n import _, pick

DATA = Path(__file__).resolve().parents[2] / "data"

CATEGORIES = ("medication", "food", "environment", "biologic")
CRITICALITIES = ("low", "high", "unable-to-assess")
VERIFICATION_STATUSES = ("unconfirmed", "presumed", "confirmed", "refuted", "entered-in-error")
CLINICAL_STATUSES = ("active", "inactive", "resolved")
SEVERITIES = ("", "mild", "moderate", "severe")
REACTIONS = ("", "rash", "urticaria", "angioedema", "bronchospasm", "anaphylaxis", "gi_upset", "other")
# Reactions that make any allergy a high risk whatever its recorded criticality (life-threatening manifestations).
SEVERE_REACTIONS = frozenset({"anaphylaxis", "angioedema", "bronchospasm"})
# The risk a recorded allergy carries at the counter (`risk_of`), strongest first.
RISKS = ("high", "unable-to-assess", "low")


@dataclass(frozen=True)
class AllergenClass:
    """One allergen class (e.g. penicillins) and the substances in it."""

    code: str
    category: str
    name_zh: str
    name_en: str
    common: bool
    substances: tuple[tuple[str, str], ...]  # (english key, chinese name)

    @property
    def label(self) -> str:
        return pick(self.name_zh, self.name_en)


@cache
def allergen_classes() -> dict[str, AllergenClass]:
    """All classes keyed by code, substances taken from the drug reference."""
    substances: dict[str, list[tuple[str, str]]] = {}
    with open(DATA / "drugs.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["allergen_class"]:
                substances.setdefault(row["allergen_class"], []).append((row["generic_en"], row["generic_zh"]))
    with open(DATA / "allergens.csv", encoding="utf-8") as fh:
        return {
            row["code"]: AllergenClass(
                code=row["code"],
                category=row["category"],
                name_zh=row["name_zh"],
                name_en=row["name_en"],
                common=row["common"] == "1",
                substances=tuple(substances.get(row["code"], ())),
            )
            for row in csv.DictReader(fh)
        }


def class_label(code: str) -> str:
    """Display name of a class code (the code itself when unknown)."""
    cls = allergen_classes().get(code)
    return cls.label if cls else code


def substance_label(class_code: str, substance: str) -> str:
    """Display name of a substance within its class (the key itself when unknown)."""
    cls = allergen_classes().get(class_code)
    for key, zh in cls.substances if cls else ():
        if key == substance:
            return pick(zh, key)
    return substance


def criticality_label(value: str) -> str:
    """Display name of a FHIR criticality."""
    return {"low": _("low risk"), "high": _("high risk"), "unable-to-assess": _("risk not assessed")}.get(value, value)


def reaction_label(value: str) -> str:
    """Display name of a reaction manifestation code."""
    return {
        "rash": _("rash"),
        "urticaria": _("hives"),
        "angioedema": _("angioedema"),
        "bronchospasm": _("bronchospasm"),
        "anaphylaxis": _("anaphylaxis"),
        "gi_upset": _("stomach upset"),
        "other": _("other reaction"),
    }.get(value, value)


def severe_reaction(reaction: str, severity: str) -> bool:
    """The recorded reaction was severe: anaphylaxis, angioedema or bronchospasm, or severity `severe`."""
    return (reaction or "").strip() in SEVERE_REACTIONS or (severity or "").strip() == "severe"


def risk_of(criticality: str, reaction: str = "", severity: str = "") -> str:
    """The risk of a recorded allergy, after FHIR AllergyIntolerance: `high` when its criticality is high or its
    reaction was severe (see `severe_reaction`); `low` when criticality is low and the reaction was not severe;
    otherwise `unable-to-assess` (so recorded, or a missing or unknown value: nobody judged it low)."""
    criticality = (criticality or "").strip()
    if criticality == "high" or severe_reaction(reaction, severity):
        return "high"
    if criticality == "low":
        return "low"
    return "unable-to-assess"


def risk_basis_label(criticality: str, reaction: str = "", severity: str = "") -> str:
    """Why an allergy carries its risk, in words for the counter: "high risk, anaphylaxis", or "low risk, but a
    severe reaction (anaphylaxis)" when the reaction outweighs a recorded low criticality."""
    recorded = criticality_label((criticality or "").strip() or "unable-to-assess")
    what = reaction_label(reaction) if reaction else ""
    if severe_reaction(reaction, severity) and (criticality or "").strip() != "high":
        return _("%(criticality)s, but a severe reaction (%(reaction)s)") % {
            "criticality": recorded,
            "reaction": what or _("severe"),
        }
    if what:
        return _("%(criticality)s, %(reaction)s") % {"criticality": recorded, "reaction": what}
    return recorded
