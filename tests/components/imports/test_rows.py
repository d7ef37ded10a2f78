"""One member row: headers in either language, and cells normalised or refused with a reason."""

from __future__ import annotations

from app.components.imports import rows as member_rows
from app.i18n import use_language


def test_headers_in_either_language_map_to_columns() -> None:
    keys = member_rows.map_header(
        ["姓名", "Mobile phone", "出生日期(YYYY-MM-DD)", "备注", "name", "Consent: health data"]
    )
    assert keys == ["name", "phone", "birth_date", None, None, "consent_health"]


def test_cells_are_normalised_the_way_people_write_them() -> None:
    errors, row = member_rows.validate_row(
        2,
        {
            "name": " 黄磊 ",
            "gender": "男",
            "birth_date": "1971年12月6日",
            "phone": "'138 1234 1234",
            "member_class": "大客户",
            "organisation": "上海某某公司",
            "allergies": "青霉素类；nsaids",
            "conditions": "高血压",
            "consent_health": "是",
            "consent_sms": "否",
        },
    )
    assert errors == {} and row is not None
    assert (row.name, row.gender, row.birth_date.isoformat(), row.phone) == ("黄磊", "M", "1971-12-06", "13812341234")
    assert row.member_class == "key_account" and row.allergy_status == "has_allergies"
    assert row.allergies == ("penicillins", "nsaids") and row.conditions == ("hypertension",)
    assert row.consents == {"health_data": True, "marketing_sms": False}


def test_an_empty_cell_says_nothing_and_a_wrong_word_is_refused() -> None:
    errors, row = member_rows.validate_row(3, {"name": "林芳", "allergies": "无", "member_class": ""})
    assert row is not None and row.allergy_status == "none" and row.member_class is None and row.consents == {}
    with use_language("en"):
        errors, row = member_rows.validate_row(4, {"name": "林芳", "consent_kiosk": "maybe", "conditions": "gout?"})
    assert row is None and set(errors) == {"consent_kiosk", "conditions"}
