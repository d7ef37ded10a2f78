"""The counter's allergy / cross-sensitivity rule: the pair × risk matrix, the words on the line, recorded allergies
whatever the cached status says."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.components.allergies import (
    OUTCOME,
    AllergyAlert,
    RecordedAllergy,
    blocks_checkout,
    check_line,
    load_rules,
    needs_acknowledgement,
    risk_basis_label,
    risk_of,
    rules,
)
from app.i18n import use_language

HAS = "has_allergies"


def allergy(cls: str = "penicillins", substance: str = "", criticality: str = "unable-to-assess", **kw: str):
    return RecordedAllergy(cls, substance, criticality, kw.get("reaction", ""), kw.get("severity", ""))


PEN = [allergy("penicillins", "penicillin")]

# One product per pair level for a penicillin allergy (the reference table's rows).
PAIR_PRODUCTS = {
    "high": (["cephalosporins_aminocephalosporin"], "cefalexin"),
    "caution": (["cephalosporins"], "cefuroxime axetil"),
    "info": (["carbapenems"], "meropenem"),
}
# Recorded allergies for each risk: criticality alone, or a severe reaction that outweighs it.
RISKS = {
    "high": [
        dict(criticality="high"),
        dict(criticality="low", reaction="anaphylaxis"),
        dict(criticality="low", reaction="angioedema"),
        dict(criticality="low", reaction="bronchospasm"),
        dict(criticality="low", reaction="rash", severity="severe"),
        dict(criticality="unable-to-assess", reaction="anaphylaxis"),
    ],
    "unable-to-assess": [dict(criticality="unable-to-assess"), dict(criticality=""), dict(criticality="bogus")],
    "low": [dict(criticality="low"), dict(criticality="low", reaction="urticaria", severity="moderate")],
}
# The documented matrix (allergy_check's docstring): pair level × risk → level.
EXPECTED = {
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


@pytest.mark.parametrize(
    ("pair", "risk", "recorded"),
    [(pair, risk, recorded) for pair in PAIR_PRODUCTS for risk, variants in RISKS.items() for recorded in variants],
)
def test_every_cell_of_the_pair_by_risk_matrix(pair: str, risk: str, recorded: dict) -> None:
    classes, substance = PAIR_PRODUCTS[pair]
    found = allergy("penicillins", "amoxicillin", **recorded)
    assert found.risk == risk
    (alert,) = check_line([found], HAS, classes, substance)
    assert (alert.pair_level, alert.level) == (pair, EXPECTED[(pair, risk)])
    assert alert.action == {"high": "override", "caution": "acknowledge", "info": "show"}[alert.level]
    assert blocks_checkout([alert]) is (alert.level == "high")
    assert needs_acknowledgement([alert]) is (alert.level == "caution")


def test_the_matrix_in_the_code_is_the_documented_one() -> None:
    assert OUTCOME == EXPECTED


@pytest.mark.parametrize(
    ("criticality", "reaction", "severity", "risk"),
    [
        ("high", "", "", "high"),
        ("high", "urticaria", "mild", "high"),
        ("low", "", "", "low"),
        ("low", "urticaria", "", "low"),
        ("low", "anaphylaxis", "", "high"),
        ("low", "", "severe", "high"),
        ("unable-to-assess", "", "", "unable-to-assess"),
        ("unable-to-assess", "rash", "mild", "unable-to-assess"),
        ("", "", "", "unable-to-assess"),
    ],
)
def test_risk_of_a_recorded_allergy(criticality: str, reaction: str, severity: str, risk: str) -> None:
    assert risk_of(criticality, reaction, severity) == risk


def test_the_demo_member_zhang_wei_blocks_amoxicillin_and_warns_on_aspirin() -> None:
    # 8000000011: a high penicillin allergy (anaphylaxis), a low-criticality NSAID allergy (hives).
    recorded = [
        allergy("penicillins", "amoxicillin", "high", reaction="anaphylaxis"),
        allergy("nsaids", "", "low", reaction="urticaria"),
    ]
    (amoxicillin,) = check_line(recorded, HAS, ["penicillins"], "amoxicillin")
    assert amoxicillin.level == "high" and amoxicillin.rule == "same_substance"
    (aspirin,) = check_line(recorded, HAS, ["salicylates"], "aspirin (low dose)")
    assert (aspirin.level, aspirin.pair_level, aspirin.rule) == ("caution", "high", "cross")
    assert not blocks_checkout([aspirin]) and needs_acknowledgement([aspirin])
    with use_language("zh_CN"):
        (same_class,) = check_line(recorded, HAS, ["penicillins"], "ampicillin")
        (aspirin_zh,) = check_line(recorded, HAS, ["salicylates"], "aspirin (low dose)")
    assert same_class.message == "同类过敏：青霉素类（高危，过敏性休克）→ 需药师审核"
    assert "低危" in aspirin_zh.message and "荨麻疹" in aspirin_zh.message and "需确认知晓" in aspirin_zh.message
    assert "COX-1" in aspirin_zh.message


@pytest.mark.parametrize("status", ["none", "unknown", "has_allergies"])
def test_recorded_allergies_are_checked_whatever_the_cached_status_says(status: str) -> None:
    # A merge, an import or an edit may leave the status stale: the recorded allergy still blocks.
    recorded = [allergy("penicillins", "amoxicillin", "high")]
    alerts = check_line(recorded, status, ["penicillins"], "amoxicillin")
    assert [a.level for a in alerts] == ["high"]  # and no "never asked" prompt: something is recorded


@pytest.mark.parametrize(
    ("recorded", "status", "expected"),
    [
        ([], "unknown", ["ask"]),
        ([], "none", []),
        ([], "has_allergies", []),  # every recorded allergy refuted or resolved: nothing to check, nothing to ask
        ([allergy("macrolides", "azithromycin")], "unknown", []),  # asked already: a macrolide is recorded
    ],
)
def test_the_never_asked_prompt_only_when_nothing_is_recorded_and_status_unknown(
    recorded: list, status: str, expected: list[str]
) -> None:
    assert [a.level for a in check_line(recorded, status, ["penicillins"], "amoxicillin")] == expected


@pytest.mark.parametrize(
    ("recorded", "classes", "substance", "expected"),
    [
        ([allergy("nsaids", "ibuprofen")], ["salicylates"], "aspirin (low dose)", ["high"]),
        ([allergy("salicylates", "aspirin (low dose)")], ["nsaids_cox2_selective"], "celecoxib", ["caution"]),
        (
            [allergy("sulfonamide_antibiotics", "sulfamethoxazole/trimethoprim")],
            ["sulfonamide_nonantibiotic"],
            "hydrochlorothiazide",
            ["info"],
        ),
        ([allergy("ace_inhibitors", "benazepril")], ["ace_inhibitors"], "enalapril", ["high"]),
        ([allergy("macrolides", "azithromycin")], ["penicillins"], "amoxicillin", []),
        (PEN, [], "vitamin c", []),
        (PEN, ["carbapenems", "cephalosporins_aminocephalosporin"], "", ["high"]),
        ([allergy("macrolides", "cefalexin")], ["cephalosporins_aminocephalosporin"], "Cefalexin", ["high"]),
    ],
    ids=[
        "nsaid+aspirin",
        "aspirin+celecoxib",
        "sulfa-antibiotic+thiazide",
        "ace+enalapril",
        "macrolide+amoxicillin",
        "no-allergen-class",
        "two-classes-strongest",
        "same-substance",
    ],
)
def test_reference_pairs(recorded: list, classes: list[str], substance: str, expected: list[str]) -> None:
    assert [alert.level for alert in check_line(recorded, HAS, classes, substance)] == expected


def test_alert_carries_classes_rule_and_csv_note() -> None:
    (alert,) = check_line(PEN, HAS, ["cephalosporins_aminocephalosporin"], "cefalexin")
    assert alert.recorded_class == "penicillins"
    assert alert.product_class == "cephalosporins_aminocephalosporin"
    assert alert.note == "aminopenicillin R1 side chain shared with cefalexin/cefadroxil"
    assert (alert.rule, alert.pair_level, alert.criticality) == ("cross", "high", "unable-to-assess")


def test_several_allergies_sorted_strongest_first() -> None:
    recorded = [allergy("carbapenems", "meropenem"), allergy("penicillins", "amoxicillin"), allergy("cephalosporins")]
    alerts = check_line(recorded, HAS, ["cephalosporins"], "cefuroxime axetil")
    assert [(a.level, a.recorded_class) for a in alerts] == [("high", "cephalosporins"), ("caution", "penicillins")]


def test_same_class_records_give_one_alert_the_strongest() -> None:
    recorded = [
        allergy("penicillins", "amoxicillin/clavulanate", "low", reaction="rash"),
        allergy("penicillins", "amoxicillin", "high", reaction="anaphylaxis"),
        allergy("penicillins", "", "low"),
    ]
    (alert,) = check_line(recorded, HAS, ["penicillins"], "ampicillin")
    assert alert.level == "high" and alert.criticality == "high" and alert.reaction == "anaphylaxis"
    low_only = [allergy("penicillins", "", "low", reaction="rash"), allergy("penicillins", "", "low")]
    assert [a.level for a in check_line(low_only, HAS, ["penicillins"], "ampicillin")] == ["caution"]


def test_the_strongest_of_repeated_pairs_in_the_reference_file_wins(tmp_path: Path) -> None:
    for order in (("info", "high", "caution"), ("high", "caution", "info"), ("caution", "info", "high")):
        path = tmp_path / "rules.csv"
        rows = "".join(f"penicillins,cephalosporins,{level},note {level},说明{level}\n" for level in order)
        path.write_text("recorded_allergy,warn_on,level,note,note_zh\n" + rows, encoding="utf-8")
        rule = load_rules(path)[("penicillins", "cephalosporins")]
        assert (rule.level, rule.note, rule.note_zh) == ("high", "note high", "说明high")


def test_of_two_rows_of_equal_level_for_one_pair_the_first_note_is_shown(tmp_path: Path) -> None:
    path = tmp_path / "rules.csv"
    path.write_text(
        "recorded_allergy,warn_on,level,note,note_zh\n"
        "penicillins,cephalosporins,caution,first note,第一条\n"
        "penicillins,cephalosporins,caution,second note,第二条\n",
        encoding="utf-8",
    )
    assert load_rules(path)[("penicillins", "cephalosporins")].note == "first note"


def test_same_class_as_the_reference_table_says_not_only_for_the_same_class_code() -> None:
    # ACE inhibitors: the table's note is "angioedema is a class effect", not "same class"; a cephalosporin allergy
    # against an aminocephalosporin is "same class" although the codes differ. Both read as a same-class allergy.
    with use_language("en"):
        (ace,) = check_line([allergy("ace_inhibitors", "benazepril", "high")], HAS, ["ace_inhibitors"], "enalapril")
        (cef,) = check_line(
            [allergy("cephalosporins", "cefuroxime axetil", "high")],
            HAS,
            ["cephalosporins_aminocephalosporin"],
            "cefalexin",
        )
    assert (ace.rule, ace.level) == ("same_class", "high")
    assert ace.message.startswith("Same-class allergy: ACE inhibitors (high risk)")
    assert (cef.rule, cef.level) == ("same_class", "high")
    assert cef.message.startswith("Same-class allergy: Cephalosporins (high risk)")


def test_a_product_of_several_classes_is_named_by_its_first_class() -> None:
    # The stored alert and the API's conflicts name the product's class: for the same substance and for the
    # never-asked prompt that is the product's first (primary) class.
    classes = ["penicillins", "carbapenems"]
    (same,) = check_line([allergy("penicillins", "amoxicillin", "high")], HAS, classes, "amoxicillin")
    assert (same.rule, same.product_class) == ("same_substance", "penicillins")
    (ask,) = check_line([], "unknown", classes, "amoxicillin")
    assert (ask.rule, ask.product_class) == ("ask", "penicillins")


def test_an_unknown_level_in_the_reference_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.csv"
    path.write_text("recorded_allergy,warn_on,level,note\npenicillins,cephalosporins,maybe,x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="maybe"):
        load_rules(path)


def test_blocks_and_acknowledgements_by_level() -> None:
    def make(level: str) -> AllergyAlert:
        return AllergyAlert(level, "penicillins", "cephalosporins", "", "x", pair_level="high")

    assert blocks_checkout([make("high")]) and blocks_checkout([make("info"), make("high")])
    assert not blocks_checkout([make(level) for level in ("caution", "info", "ask")])
    assert needs_acknowledgement([make("info"), make("caution")])
    assert not needs_acknowledgement([make(level) for level in ("high", "info", "ask")])
    assert not blocks_checkout([]) and not needs_acknowledgement([])


def test_messages_name_the_rule_the_risk_and_the_action_in_english() -> None:
    high_risk = [allergy("penicillins", "amoxicillin", "high", reaction="anaphylaxis")]
    with use_language("en"):
        (cross,) = check_line(PEN, HAS, ["cephalosporins_aminocephalosporin"], "cefalexin")
        (caution,) = check_line(PEN, HAS, ["cephalosporins"], "cefuroxime axetil")
        (info,) = check_line(PEN, HAS, ["carbapenems"], "meropenem")
        (ask,) = check_line([], "unknown", ["penicillins"], "amoxicillin")
        (same,) = check_line(high_risk, HAS, ["penicillins"], "amoxicillin")
        (same_class,) = check_line(high_risk, HAS, ["penicillins"], "ampicillin")
    assert cross.message.startswith("Cross-sensitivity: allergy to Penicillins (risk not assessed)")
    assert "Aminocephalosporins" in cross.message and "R1 side chain" in cross.message
    assert cross.message.endswith("→ pharmacist override needed")
    assert caution.message.startswith("Possible cross-sensitivity: allergy to Penicillins")
    assert "unlikely" not in caution.message and caution.message.endswith("→ acknowledge to continue")
    assert info.message.startswith("Cross-sensitivity unlikely: allergy to Penicillins")
    assert "below 1%" in info.message and info.message.endswith("→ for information")
    assert ask.message == "Allergies never asked — ask now"
    override = "→ pharmacist override needed"
    assert same.message == f"Same substance: allergy to amoxicillin (high risk, anaphylaxis) {override}"
    assert same_class.message == f"Same-class allergy: Penicillins (high risk, anaphylaxis) {override}"


def test_caution_and_info_texts_in_chinese() -> None:
    with use_language("zh_CN"):
        (caution,) = check_line(PEN, HAS, ["cephalosporins"], "cefuroxime axetil")
        (info,) = check_line(PEN, HAS, ["carbapenems"], "meropenem")
    assert caution.message.startswith("可能交叉过敏") and "可能性低" not in caution.message
    assert "需确认知晓" in caution.message and "R1侧链不同时交叉反应低" in caution.message
    assert info.message.startswith("交叉过敏可能性低") and "仅提示" in info.message


def test_a_severe_reaction_outweighing_a_low_criticality_says_so() -> None:
    with use_language("en"):
        assert risk_basis_label("low", "anaphylaxis") == "low risk, but a severe reaction (anaphylaxis)"
        assert risk_basis_label("low", "", "severe") == "low risk, but a severe reaction (severe)"
        assert risk_basis_label("high", "anaphylaxis") == "high risk, anaphylaxis"
        assert risk_basis_label("low", "urticaria") == "low risk, hives"
        assert risk_basis_label("") == "risk not assessed"


def test_rules_load_once() -> None:
    assert rules() is rules()
    assert rules()[("penicillins", "carbapenems")].level == "info"
    assert rules()[("penicillins", "carbapenems")].note == "cross-reactivity below 1%"
