"""The counter's allergy / cross-sensitivity rule."""

from __future__ import annotations

import pytest

from app.components.allergy_check import AllergyAlert, blocks_checkout, check_line, rules
from app.i18n import use_language

PEN = [("penicillins", "penicillin")]
HAS = "has_allergies"


@pytest.mark.parametrize(
    ("recorded", "status", "classes", "substance", "expected"),
    [
        (PEN, HAS, ["cephalosporins_aminocephalosporin"], "cefalexin", ["high"]),
        (PEN, HAS, ["cephalosporins"], "cefuroxime axetil", ["caution"]),
        (PEN, HAS, ["carbapenems"], "meropenem", ["info"]),
        ([("nsaids", "ibuprofen")], HAS, ["salicylates"], "aspirin (low dose)", ["high"]),
        ([("salicylates", "aspirin (low dose)")], HAS, ["nsaids_cox2_selective"], "celecoxib", ["caution"]),
        (
            [("sulfonamide_antibiotics", "sulfamethoxazole/trimethoprim")],
            HAS,
            ["sulfonamide_nonantibiotic"],
            "hydrochlorothiazide",
            ["info"],
        ),
        ([("ace_inhibitors", "benazepril")], HAS, ["ace_inhibitors"], "enalapril", ["high"]),
        ([("macrolides", "azithromycin")], HAS, ["penicillins"], "amoxicillin", []),
        ([], "unknown", ["penicillins"], "amoxicillin", ["ask"]),
        ([], "none", ["penicillins"], "amoxicillin", []),
        (PEN, HAS, [], "vitamin c", []),
        (PEN, HAS, ["carbapenems", "cephalosporins_aminocephalosporin"], "", ["high"]),
        ([("macrolides", "cefalexin")], HAS, ["cephalosporins_aminocephalosporin"], "Cefalexin", ["high"]),
    ],
    ids=[
        "penicillin+cefalexin",
        "penicillin+cefuroxime",
        "penicillin+carbapenem",
        "nsaid+aspirin",
        "aspirin+celecoxib",
        "sulfa-antibiotic+thiazide",
        "ace+enalapril",
        "macrolide+amoxicillin",
        "unknown-status",
        "status-none",
        "no-allergen-class",
        "two-classes-strongest",
        "same-substance",
    ],
)
def test_allergy_matrix(
    recorded: list[tuple[str, str]], status: str, classes: list[str], substance: str, expected: list[str]
) -> None:
    assert [alert.level for alert in check_line(recorded, status, classes, substance)] == expected


def test_alert_carries_classes_and_csv_note() -> None:
    (alert,) = check_line(PEN, HAS, ["cephalosporins_aminocephalosporin"], "cefalexin")
    assert alert.recorded_class == "penicillins"
    assert alert.product_class == "cephalosporins_aminocephalosporin"
    assert alert.note == "aminopenicillin R1 side chain shared with cefalexin/cefadroxil"


def test_several_allergies_sorted_strongest_first() -> None:
    recorded = [("carbapenems", "meropenem"), ("penicillins", "amoxicillin"), ("cephalosporins", "cefixime")]
    alerts = check_line(recorded, HAS, ["cephalosporins"], "cefuroxime axetil")
    assert [(a.level, a.recorded_class) for a in alerts] == [("high", "cephalosporins"), ("caution", "penicillins")]


def test_same_class_substances_give_one_alert() -> None:
    recorded = [("penicillins", "amoxicillin"), ("penicillins", "amoxicillin/clavulanate")]
    assert [a.level for a in check_line(recorded, HAS, ["penicillins"], "amoxicillin")] == ["high"]


def test_blocks_checkout_only_on_high() -> None:
    high = AllergyAlert("high", "penicillins", "penicillins", "same class", "x")
    others = [AllergyAlert(level, "penicillins", "cephalosporins", "", "x") for level in ("caution", "info", "ask")]
    assert blocks_checkout([high])
    assert blocks_checkout([*others, high])
    assert not blocks_checkout(others)
    assert not blocks_checkout([])


def test_messages_in_english() -> None:
    with use_language("en"):
        (high,) = check_line(PEN, HAS, ["cephalosporins_aminocephalosporin"], "cefalexin")
        (caution,) = check_line(PEN, HAS, ["cephalosporins"], "cefuroxime axetil")
        (ask,) = check_line([], "unknown", ["penicillins"], "amoxicillin")
        (same,) = check_line([("penicillins", "amoxicillin")], HAS, ["penicillins"], "amoxicillin")
    assert "Penicillins" in high.message and "Aminocephalosporins" in high.message
    assert "override" in high.message
    assert "cross-sensitivity" in caution.message and "Cephalosporins" in caution.message
    assert ask.message == "Allergies never asked — ask now"
    assert "amoxicillin" in same.message


def test_rules_load_once() -> None:
    assert rules() is rules()
    assert rules()[("penicillins", "carbapenems")] == ("info", "cross-reactivity below 1%")
