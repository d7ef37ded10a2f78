"""The counter's allergy check: a member's recorded allergies against one cart line, with cross-sensitivity.

Rules come from `app/data/allergen_cross_sensitivity.csv` (recorded_allergy, warn_on, level, note, note_zh), loaded
once; `check_line` does no I/O and runs on every scan.

What an alert asks for follows FHIR AllergyIntolerance: the *pair* (the reference table's level for the recorded
class against the product's class; the same substance counts as `high`) meets the *risk* of the recorded allergy
(`allergens.risk_of`: criticality `high` or a severe reaction → high; `unable-to-assess` or nothing recorded →
unassessed; `low` → low). The outcome is the alert's `level`:

| pair \\ risk         | high                  | unable-to-assess      | low                   |
|---------------------|-----------------------|-----------------------|-----------------------|
| high (same class,   | `high`: blocks until  | `high`: blocks until  | `caution`: one tap    |
| substance, side     | a pharmacist          | a pharmacist          | acknowledges it       |
| chain)              | overrides (reason)    | overrides (reason)    | (who, when recorded)  |
| caution             | `caution`: acknowledge| `caution`: acknowledge| `info`: shown         |
| info                | `info`: shown         | `info`: shown         | `info`: shown         |

An unassessed allergy is treated like a high one: nobody has judged it harmless. A caution pair against a high or
unassessed allergy is not cleared by the table's "usually tolerated": someone must have read it. `ask` (shown) is
the prompt to ask about allergies, given only when nothing is recorded and the status is still unknown.

The check rests on the recorded active allergies themselves, never on the member's cached `allergy_status`: a
status left at "none" or "unknown" by a merge, an import or an edit hides no recorded allergy.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from app.components.allergies.vocabulary import DATA, class_label, risk_basis_label, risk_of, substance_label
from app.i18n import _, pick

LEVELS = ("high", "caution", "info", "ask")  # strongest first
_RANK = {level: rank for rank, level in enumerate(LEVELS)}
PAIR_LEVELS = ("high", "caution", "info")
_RISK_RANK = {"high": 0, "unable-to-assess": 1, "low": 2}
# (pair level, risk) → the alert's level; see the module's table.
OUTCOME = {
    ("high", "high"): "high",
    ("high", "unable-to-assess"): "high",
    ("high", "low"): "caution",
    ("caution", "high"): "caution",
    ("caution", "unable-to-assess"): "caution",
    ("caution", "low"): "info",
    ("info", "high"): "info",
    ("info", "unable-to-assess"): "info",
    ("info", "low"): "info",
}
# What each level asks of the counter.
ACTIONS = {"high": "override", "caution": "acknowledge", "info": "show", "ask": "show"}


@dataclass(frozen=True)
class RecordedAllergy:
    """One active recorded allergy as the check needs it (FHIR criticality, reaction manifestation, severity)."""

    allergen_class: str
    substance: str = ""
    criticality: str = "unable-to-assess"
    reaction: str = ""
    severity: str = ""

    @property
    def risk(self) -> str:
        return risk_of(self.criticality, self.reaction, self.severity)


@dataclass(frozen=True)
class Rule:
    """A row of the reference table: level, and why (English and Chinese)."""

    level: str
    note: str
    note_zh: str = ""


@dataclass(frozen=True)
class AllergyAlert:
    """One warning on a cart line. `level` is the outcome (high | caution | info | ask), `pair_level` the reference
    table's level for the pair, `rule` which rule applied (same_substance | same_class | cross | ask)."""

    level: str
    recorded_class: str | None
    product_class: str
    note: str  # the reference file's English note
    message: str  # in the current language: the rule, the allergy's risk and what it asks for
    pair_level: str = ""
    rule: str = ""
    criticality: str = ""
    reaction: str = ""
    severity: str = ""

    @property
    def action(self) -> str:
        """override | acknowledge | show."""
        return ACTIONS[self.level]


def load_rules(path: Path) -> dict[tuple[str, str], Rule]:
    """(recorded class, product class) → Rule from a reference file; when the file repeats a pair, the strongest
    level wins whatever the order of the rows."""
    table: dict[tuple[str, str], Rule] = {}
    with open(path, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            level = row["level"].strip()
            if level not in PAIR_LEVELS:
                raise ValueError(f"unknown level {level!r} in {path.name}")
            key = (row["recorded_allergy"].strip(), row["warn_on"].strip())
            if key not in table or _RANK[level] < _RANK[table[key].level]:
                table[key] = Rule(level, row["note"].strip(), (row.get("note_zh") or "").strip())
    return table


@cache
def rules() -> dict[tuple[str, str], Rule]:
    """The reference table of the app (`app/data/allergen_cross_sensitivity.csv`), read once."""
    return load_rules(DATA / "allergen_cross_sensitivity.csv")


def _same(a: str, b: str) -> bool:
    return bool(a.strip()) and a.strip().casefold() == b.strip().casefold()


def _action_label(level: str) -> str:
    return {
        "high": _("pharmacist override needed"),
        "caution": _("acknowledge to continue"),
        "info": _("for information"),
    }[level]


def _message(rule: str, pair_level: str, level: str, allergy: RecordedAllergy, product_class: str, why: str) -> str:
    """The line's words: which rule applied, the recorded allergy and its risk, and what the counter must do."""
    values = {
        "recorded": class_label(allergy.allergen_class),
        "product": class_label(product_class),
        "substance": substance_label(allergy.allergen_class, allergy.substance),
        "basis": risk_basis_label(allergy.criticality, allergy.reaction, allergy.severity),
        "why": why,
        "action": _action_label(level),
    }
    if rule == "same_substance":
        return _("Same substance: allergy to %(substance)s (%(basis)s) → %(action)s") % values
    if rule == "same_class":
        return _("Same-class allergy: %(recorded)s (%(basis)s) → %(action)s") % values
    if pair_level == "high":
        return (
            _("Cross-sensitivity: allergy to %(recorded)s (%(basis)s) and %(product)s, %(why)s → %(action)s") % values
        )
    if pair_level == "caution":
        return (
            _("Possible cross-sensitivity: allergy to %(recorded)s (%(basis)s) and %(product)s, %(why)s → %(action)s")
            % values
        )
    return (
        _("Cross-sensitivity unlikely: allergy to %(recorded)s (%(basis)s) and %(product)s, %(why)s → %(action)s")
        % values
    )


def _alert(allergy: RecordedAllergy, product_class: str, pair_level: str, rule: str, hit: Rule | None) -> AllergyAlert:
    level = OUTCOME[(pair_level, allergy.risk)]
    why = pick(hit.note_zh or hit.note, hit.note) if hit else ""
    return AllergyAlert(
        level=level,
        recorded_class=allergy.allergen_class,
        product_class=product_class,
        note=hit.note if hit else "same substance",
        message=_message(rule, pair_level, level, allergy, product_class, why),
        pair_level=pair_level,
        rule=rule,
        criticality=allergy.criticality,
        reaction=allergy.reaction,
        severity=allergy.severity,
    )


def _stronger(a: AllergyAlert, b: AllergyAlert | None) -> bool:
    """`a` asks for more than `b` (its level, then the risk behind it, then the pair's level)."""
    if b is None:
        return True
    key_a = (_RANK[a.level], _RISK_RANK[risk_of(a.criticality, a.reaction, a.severity)], _RANK[a.pair_level])
    key_b = (_RANK[b.level], _RISK_RANK[risk_of(b.criticality, b.reaction, b.severity)], _RANK[b.pair_level])
    return key_a < key_b


def check_line(
    recorded: Sequence[RecordedAllergy],
    allergy_status: str,
    product_classes: list[str],
    product_substance: str = "",
) -> list[AllergyAlert]:
    """Alerts for one product against the member's active recorded allergies, strongest first.

    One alert per recorded class: the strongest outcome over its recorded allergies and the product's classes (a
    recorded substance that is the product's own substance is a `high` pair). `allergy_status` ("unknown", "none",
    "has_allergies") only decides the prompt to ask, given when nothing is recorded and the status is unknown.
    """
    classes = list(dict.fromkeys(c for c in product_classes if c))
    if not classes:
        return []
    table = rules()
    best: dict[str, AllergyAlert] = {}
    for allergy in recorded:
        candidates: list[AllergyAlert] = []
        if _same(allergy.substance, product_substance):
            candidates.append(_alert(allergy, classes[0], "high", "same_substance", None))
        for product_class in classes:
            hit = table.get((allergy.allergen_class, product_class))
            if hit:
                same_class = allergy.allergen_class == product_class or hit.note == "same class"
                candidates.append(
                    _alert(allergy, product_class, hit.level, "same_class" if same_class else "cross", hit)
                )
        for candidate in candidates:
            if _stronger(candidate, best.get(allergy.allergen_class)):
                best[allergy.allergen_class] = candidate
    alerts = list(best.values())
    if not recorded and allergy_status == "unknown":
        alerts.append(
            AllergyAlert(
                "ask",
                None,
                classes[0],
                "allergy status unknown",
                _("Allergies never asked — ask now"),
                rule="ask",
            )
        )
    alerts.sort(key=lambda alert: _RANK[alert.level])
    return alerts


def blocks_checkout(alerts: Iterable[AllergyAlert]) -> bool:
    """True when any alert is `high` (checkout waits for a pharmacist override)."""
    return any(alert.level == "high" for alert in alerts)


def needs_acknowledgement(alerts: Iterable[AllergyAlert]) -> bool:
    """True when any alert is `caution` (checkout waits for one acknowledging tap)."""
    return any(alert.level == "caution" for alert in alerts)
