"""The member's fields: their codes and labels, which ones an edit may change, and how stored values read back."""

from __future__ import annotations

from datetime import datetime

from app.components import timeline
from app.i18n import _

ALLERGY_STATUSES = ("unknown", "none", "has_allergies")
GENDERS = ("M", "F", "U")
MEMBER_CLASSES = ("regular", "member", "key_account")
# Fields a profile edit may change, in the order the form shows them.
EDITABLE_FIELDS = (
    "name",
    "gender",
    "birth_date",
    "phone",
    "address",
    "id_number",
    "member_class",
    "organisation",
    "responsible_pharmacist",
)
# Personal identifiers: encrypted at rest, and the edit history records that they changed, never the values.
ENCRYPTED_FIELDS = ("phone", "id_number", "address")
# What registration still lacks, as shown on the counter panel (see `lookup`).
GAPS = ("birth_date", "phone", "health", "consents")


def iso(value: datetime | None) -> str | None:
    """ISO text of a time, or None."""
    return value.isoformat() if value else None


def gap_label(code: str) -> str:
    """What the counter says is missing."""
    return {
        "birth_date": _("No birth date"),
        "phone": _("No mobile phone"),
        "health": _("Health step not done"),
        "consents": _("No consent recorded for marketing messages or the kiosk"),
    }.get(code, code)


def member_class_label(code: str) -> str:
    """A member class's name in the current language."""
    return {
        "regular": _("Regular customer"),
        "member": _("Member"),
        "key_account": _("Key account"),
    }.get(code, code)


def gender_label(code: str) -> str:
    """A gender's name in the current language."""
    return {"M": _("male"), "F": _("female"), "U": _("not stated")}.get(code, code)


def field_label(name: str) -> str:
    """A profile field's name in the current language."""
    return {
        "name": _("Name"),
        "gender": _("Gender"),
        "birth_date": _("Birth date"),
        "phone": _("Mobile phone"),
        "address": _("Address"),
        "id_number": _("Resident ID number"),
        "member_class": _("Member class"),
        "organisation": _("Organisation"),
        "responsible_pharmacist": _("Responsible pharmacist"),
    }.get(name, name)


timeline.register_labeller("member_class", member_class_label)
timeline.register_labeller("member_field", field_label)
