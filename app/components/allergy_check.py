"""The counter's allergy check: a member's recorded allergies against one cart line, with cross-sensitivity.

Rules come from `app/data/allergen_cross_sensitivity.csv` (recorded_allergy, warn_on, level, note), loaded once;
`check_line` does no I/O and runs on every scan.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from app.components.allergens import DATA, class_label, substance_label
from app.i18n import _

LEVELS = ("high", "caution", "info", "ask")  # strongest first
_RANK = {level: rank for rank, level in enumerate(LEVELS)}


@dataclass(frozen=True)
class AllergyAlert:
    """One warning on a cart line."""

    level: str  # "high" | "caution" | "info" | "ask"
    recorded_class: str | None
    product_class: str
    note: str  # the reference file's English note
    message: str  # in the current language


@cache
def rules() -> dict[tuple[str, str], tuple[str, str]]:
    """(recorded class, product class) → (level, note), the strongest when the file repeats a pair."""
    table: dict[tuple[str, str], tuple[str, str]] = {}
    with open(DATA / "allergen_cross_sensitivity.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            level = row["level"].strip()
            if level not in ("high", "caution", "info"):
                raise ValueError(f"unknown level {level!r} in allergen_cross_sensitivity.csv")
            key = (row["recorded_allergy"].strip(), row["warn_on"].strip())
            if key not in table or _RANK[level] < _RANK[table[key][0]]:
                table[key] = (level, row["note"].strip())
    return table


def _same(a: str, b: str) -> bool:
    return bool(a.strip()) and a.strip().casefold() == b.strip().casefold()


def _message(level: str, recorded_class: str, product_class: str, substance: str = "") -> str:
    if substance:
        return _("Recorded allergy to %(substance)s — this product contains it") % {
            "substance": substance_label(recorded_class, substance)
        }
    values = {"recorded": class_label(recorded_class), "product": class_label(product_class)}
    if level == "high":
        return _("Allergy to %(recorded)s: %(product)s must not be sold without a pharmacist override") % values
    if level == "caution":
        return _("Allergy to %(recorded)s: possible cross-sensitivity with %(product)s") % values
    return _("Allergy to %(recorded)s: cross-sensitivity with %(product)s is unlikely") % values


def check_line(
    recorded: list[tuple[str, str]],
    allergy_status: str,
    product_classes: list[str],
    product_substance: str = "",
) -> list[AllergyAlert]:
    """Alerts for one product against the member's active allergies, strongest first.

    `recorded` holds (allergen class, substance) pairs; `allergy_status` is "unknown", "none" or "has_allergies".
    One alert per recorded class: the strongest rule over the product's classes, or `high` when a recorded
    substance is the product's own substance.
    """
    classes = list(dict.fromkeys(c for c in product_classes if c))
    if not classes:
        return []
    alerts: list[AllergyAlert] = []
    if allergy_status != "none":
        table = rules()
        best: dict[str, AllergyAlert] = {}
        for recorded_class, substance in recorded:
            if _same(substance, product_substance):
                candidate = AllergyAlert(
                    "high",
                    recorded_class,
                    classes[0],
                    "same substance",
                    _message("high", recorded_class, classes[0], substance),
                )
            else:
                candidate = None
                for product_class in classes:
                    hit = table.get((recorded_class, product_class))
                    if hit and (candidate is None or _RANK[hit[0]] < _RANK[candidate.level]):
                        level, note = hit
                        candidate = AllergyAlert(
                            level,
                            recorded_class,
                            product_class,
                            note,
                            _message(level, recorded_class, product_class),
                        )
            current = best.get(recorded_class)
            if candidate and (current is None or _RANK[candidate.level] < _RANK[current.level]):
                best[recorded_class] = candidate
        alerts.extend(best.values())
    if allergy_status == "unknown":
        alerts.append(
            AllergyAlert("ask", None, classes[0], "allergy status unknown", _("Allergies never asked — ask now"))
        )
    alerts.sort(key=lambda alert: _RANK[alert.level])
    return alerts


def blocks_checkout(alerts: Iterable[AllergyAlert]) -> bool:
    """True when any alert is `high` (checkout waits for a pharmacist override)."""
    return any(alert.level == "high" for alert in alerts)
