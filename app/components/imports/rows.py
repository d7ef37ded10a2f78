"""One member row of an import file: the columns a file may carry, their vocabularies, cells → clean values or errors.

A row is checked with the registration rules (`members.validate_new_member`); allergies and conditions must be
codes or names from the shared vocabularies, consents 是/否 (yes/no). An empty cell says nothing.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from functools import cache

from app.components import consents
from app.components.allergies import DATA, allergen_classes
from app.components.imports.reading import Column, header_keys
from app.components.members import NewMember, id_number_index, phone_index, validate_new_member
from app.i18n import _

# ---------------------------------------------------------------- the columns a file may carry

COLUMNS = (
    Column("name", "姓名", "Name", ("名字", "客户姓名", "会员姓名", "顾客姓名")),
    Column("gender", "性别", "Gender", ("sex",)),
    Column("birth_date", "出生日期", "Birth date", ("生日", "出生年月日", "birthday", "date of birth", "dob")),
    Column("phone", "手机号", "Mobile phone", ("手机", "手机号码", "电话", "联系电话", "mobile", "phone number")),
    Column("address", "地址", "Address", ("住址", "联系地址", "家庭住址")),
    Column("id_number", "身份证号", "Resident ID number", ("身份证", "身份证号码", "id number", "resident id")),
    Column("member_class", "会员类别", "Member class", ("会员类型", "客户类别", "客户类型", "class")),
    Column("organisation", "单位", "Organisation", ("所属单位", "机构", "工作单位", "organization", "company")),
    Column("allergies", "过敏类别", "Allergy classes", ("过敏", "过敏史", "过敏药物", "allergy", "allergy class")),
    Column("conditions", "慢病", "Conditions", ("疾病", "慢性病", "慢病病种", "condition")),
    Column("consent_health", "健康数据授权", "Consent: health data", ("health data consent",)),
    Column("consent_sms", "短信营销授权", "Consent: marketing SMS", ("sms consent",)),
    Column("consent_wechat", "微信营销授权", "Consent: marketing WeChat", ("wechat consent",)),
    Column("consent_kiosk", "自助机显示授权", "Consent: kiosk display", ("kiosk consent",)),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
CONSENT_COLUMNS = {
    "consent_health": consents.HEALTH_DATA,
    "consent_sms": consents.MARKETING_SMS,
    "consent_wechat": consents.MARKETING_WECHAT,
    "consent_kiosk": consents.KIOSK_DISPLAY,
}


def map_header(cells: list[str], columns: tuple[Column, ...] = COLUMNS) -> list[str | None]:
    """The column key of each header cell (None for columns we do not import; the first of a repeat wins)."""
    return header_keys(cells, columns)


def field_label(name: str) -> str:
    """A column's header in the current language (the key itself for a field that is no column)."""
    col = COLUMN_BY_KEY.get(name)
    return col.label if col else name


# ---------------------------------------------------------------- vocabularies for coded columns

_LIST_SPLIT = re.compile(r"[;；,，、|\n]+")
_PARENS = re.compile(r"[\(（].*?[\)）]")
_NONE_WORDS = {"无", "没有", "无过敏", "否认", "none", "no", "nka", "nkda", "no known allergies", "无已知过敏"}
_YES = {"是", "同意", "已同意", "y", "yes", "true", "1", "√", "✓", "✔", "授权", "已授权"}
_NO = {"否", "不同意", "拒绝", "n", "no", "false", "0", "×", "✗", "未授权", "不授权"}


def _vocab_key(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


@cache
def _allergen_lookup() -> dict[str, str]:
    found: dict[str, str] = {}
    for cls in allergen_classes().values():
        for name in (cls.code, cls.name_zh, cls.name_en, _PARENS.sub("", cls.name_zh), _PARENS.sub("", cls.name_en)):
            found.setdefault(_vocab_key(name), cls.code)
    return found


@cache
def condition_vocabulary() -> dict[str, tuple[str, str]]:
    """Condition code → (Chinese, English) name, from the shared vocabulary file."""
    with open(DATA / "conditions.csv", encoding="utf-8") as fh:
        return {row["code"]: (row["name_zh"], row["name_en"]) for row in csv.DictReader(fh)}


@cache
def _condition_lookup() -> dict[str, str]:
    found: dict[str, str] = {}
    for code, (zh, en) in condition_vocabulary().items():
        for name in (code, zh, en, *zh.split("/")):
            found.setdefault(_vocab_key(name), code)
    return found


# ---------------------------------------------------------------- one row: cells → clean values or errors


@dataclass
class Row:
    """A validated row, ready to match and apply."""

    row_no: int
    name: str
    gender: str
    birth_date: date | None
    phone: str | None
    id_number: str | None
    address: str | None
    member_class: str | None
    organisation: str | None
    allergy_status: str | None  # None: column empty; "none" or "has_allergies"
    allergies: tuple[str, ...]
    conditions: tuple[str, ...]
    consents: dict[str, bool]
    phone_idx: str | None = None
    id_idx: str | None = None

    @property
    def wants_health(self) -> bool:
        return bool(self.allergies or self.conditions or self.allergy_status)


_DATE_PARTS = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?$")
_GENDERS = {"男": "M", "女": "F", "m": "M", "male": "M", "f": "F", "female": "F", "u": "U", "未知": "U", "不详": "U"}
_CLASSES = {
    "regular": "regular",
    "普通": "regular",
    "普通顾客": "regular",
    "散客": "regular",
    "member": "member",
    "会员": "member",
    "普通会员": "member",
    "key_account": "key_account",
    "keyaccount": "key_account",
    "key account": "key_account",
    "大客户": "key_account",
    "团购": "key_account",
    "机构": "key_account",
}


def _normalize_date(text: str) -> str:
    text = text.strip()
    if re.fullmatch(r"\d{8}", text):
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    found = _DATE_PARTS.match(text)
    if found:
        y, m, d = found.groups()
        return f"{y}-{int(m):02d}-{int(d):02d}"
    return text


def _parse_list(text: str, lookup: dict[str, str]) -> tuple[list[str], list[str]]:
    codes: list[str] = []
    unknown: list[str] = []
    for part in _LIST_SPLIT.split(text):
        part = part.strip()
        if not part:
            continue
        code = lookup.get(_vocab_key(part))
        if code is None:
            unknown.append(part)
        elif code not in codes:
            codes.append(code)
    return codes, unknown


def validate_row(row_no: int, cells: dict[str, str]) -> tuple[dict[str, str], Row | None]:
    """Field errors (in the current language) and the clean row, from the cells of one row by column key."""
    text = {k: (v or "").strip() for k, v in cells.items()}
    for key in ("phone", "id_number"):
        text[key] = text.get(key, "").lstrip("'").replace(" ", "")
    gender_raw = text.get("gender", "")
    gender = _GENDERS.get(gender_raw.lower(), gender_raw.upper() or "U")
    class_raw = text.get("member_class", "")
    member_class = _CLASSES.get(class_raw.lower(), class_raw) if class_raw else ""
    values = {
        "name": text.get("name", ""),
        "gender": gender,
        "birth_date": _normalize_date(text.get("birth_date", "")),
        "phone": text.get("phone", ""),
        "address": text.get("address", ""),
        "id_number": text.get("id_number", "").upper(),
        "member_class": member_class,
        "organisation": text.get("organisation", ""),
    }
    errors, clean = validate_new_member(NewMember(**values))
    allergy_status = None
    allergies: list[str] = []
    raw = text.get("allergies", "")
    if raw:
        if _vocab_key(raw) in _NONE_WORDS:
            allergy_status = "none"
        else:
            allergies, unknown = _parse_list(raw, _allergen_lookup())
            if unknown:
                message = _("Unknown allergy class %(names)s: use a code or name from the allergen list.")
                errors["allergies"] = message % {"names": "、".join(unknown)}
            allergy_status = "has_allergies"
    conditions: list[str] = []
    raw = text.get("conditions", "")
    if raw and _vocab_key(raw) not in _NONE_WORDS:
        conditions, unknown = _parse_list(raw, _condition_lookup())
        if unknown:
            errors["conditions"] = _("Unknown condition %(names)s: use a code or name from the conditions list.") % {
                "names": "、".join(unknown)
            }
    granted: dict[str, bool] = {}
    for key, purpose in CONSENT_COLUMNS.items():
        raw = _vocab_key(text.get(key, ""))
        if not raw:
            continue
        if raw in _YES:
            granted[purpose] = True
        elif raw in _NO:
            granted[purpose] = False
        else:
            errors[key] = _("Write 是 or 否 (yes or no), or leave the cell empty.")
    if errors:
        return errors, None
    phone = clean.get("phone")
    id_number = clean.get("id_number")
    row = Row(
        row_no=row_no,
        name=clean["name"],
        gender=clean["gender"],
        birth_date=clean.get("birth_date"),
        phone=phone,
        id_number=id_number,
        address=clean.get("address") or None,
        # An empty cell changes nothing: registration's default class is not a value from the file.
        member_class=clean.get("member_class") if class_raw else None,
        organisation=clean.get("organisation") or None,
        allergy_status=allergy_status,
        allergies=tuple(allergies),
        conditions=tuple(conditions),
        consents=granted,
        phone_idx=phone_index(phone) if phone else None,
        id_idx=id_number_index(id_number) if id_number else None,
    )
    return {}, row
