"""The template an upload starts from: the header row in the current language, and what each column accepts."""

from __future__ import annotations

import codecs
import io

from app.components.allergies import allergen_classes
from app.components.imports.reading import csv_line
from app.components.imports.rows import COLUMN_BY_KEY, COLUMNS, condition_vocabulary
from app.i18n import _, pick


def template_headers() -> list[str]:
    """The header row of the template, in the current language."""
    return [c.label for c in COLUMNS]


def template_csv() -> bytes:
    """An empty CSV template (UTF-8 with BOM so Excel shows Chinese correctly)."""
    return codecs.BOM_UTF8 + csv_line(template_headers())


def template_xlsx() -> bytes:
    """A workbook: the header row (phone and ID columns formatted as text) and a sheet of accepted values."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = _("Members")
    ws.append(template_headers())
    for i, col in enumerate(COLUMNS, start=1):
        ws.cell(row=1, column=i).font = Font(bold=True)
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = 22 if col.key in ("address", "allergies", "conditions") else 16
        if col.key in ("phone", "id_number", "birth_date"):
            for r in range(2, 1002):
                ws.cell(row=r, column=i).number_format = "@"
    ws.freeze_panes = "A2"
    help_sheet = wb.create_sheet(_("Accepted values"))
    help_sheet.append([_("Column"), _("Accepted values")])
    for cell in help_sheet[1]:
        cell.font = Font(bold=True)
    for key, text in column_help():
        help_sheet.append([COLUMN_BY_KEY[key].label, text])
    help_sheet.append([])
    help_sheet.append([_("Allergy class code"), _("Name")])
    for cls in allergen_classes().values():
        help_sheet.append([cls.code, cls.label])
    help_sheet.append([])
    help_sheet.append([_("Condition code"), _("Name")])
    for code, (zh, en) in condition_vocabulary().items():
        help_sheet.append([code, pick(zh, en)])
    help_sheet.column_dimensions["A"].width = 28
    help_sheet.column_dimensions["B"].width = 80
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def column_help() -> list[tuple[str, str]]:
    """What each column accepts, in the current language (the upload page and the template show it)."""
    yes_no = _("是/否 or yes/no; empty: not asked")
    return [
        ("name", _("Required.")),
        ("gender", _("男/女 or M/F; empty: not stated")),
        ("birth_date", _("YYYY-MM-DD (also 1985/3/12 or 19850312)")),
        ("phone", _("Mainland mobile number, 11 digits")),
        ("address", _("Free text")),
        ("id_number", _("18-digit resident ID number")),
        ("member_class", _("普通/会员/大客户 or regular/member/key_account")),
        ("organisation", _("The institution of a key account")),
        ("allergies", _("Allergen class codes or names separated by ; (e.g. penicillins;nsaids); 无 for none")),
        ("conditions", _("Condition codes or names separated by ; (e.g. hypertension;diabetes)")),
        ("consent_health", yes_no + " · " + _("required for allergies and conditions")),
        ("consent_sms", yes_no),
        ("consent_wechat", yes_no),
        ("consent_kiosk", yes_no),
    ]
