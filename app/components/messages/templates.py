"""Message templates: a code, its purpose, the variables it uses and its text (a msgid rendered in the member's
language); drug and condition names appear only when the member agreed to them being named."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app.i18n import N_, gettext, normalize_language, use_language

CARE, MARKETING, SERVICE, STAFF = "care", "marketing", "service", "staff"
MEMBER_PURPOSES = (CARE, MARKETING, SERVICE)
VARIABLES = ("name", "drug", "condition", "date", "store", "pharmacist", "coupon", "task")
# Named only with the member's `sms_details` consent; otherwise the generic wording below.
SENSITIVE = ("drug", "condition")


@dataclass(frozen=True)
class Template:
    """One message template; `text` and `label_msgid` are msgids (English source, translated when rendered)."""

    code: str
    purpose: str
    label_msgid: str
    text: str
    variables: tuple[str, ...]

    @property
    def label(self) -> str:
        """The template's name in the current language."""
        return gettext(self.label_msgid)


_TEMPLATES = (
    Template(
        "usage_note",
        CARE,
        N_("How to take a medicine"),
        N_(
            "%(name)s, this is pharmacist %(pharmacist)s at %(store)s: how are you getting on with %(drug)s? "
            "Call or visit us with any question."
        ),
        ("name", "pharmacist", "store", "drug"),
    ),
    Template(
        "refill_reminder",
        CARE,
        N_("Refill reminder"),
        N_("%(name)s, %(drug)s may run out around %(date)s. %(store)s can have it ready for you."),
        ("name", "drug", "date", "store"),
    ),
    Template(
        "welcome",
        SERVICE,
        N_("Welcome"),
        N_("Welcome to %(store)s, %(name)s: your membership is active."),
        ("name", "store"),
    ),
    Template(
        "birthday",
        MARKETING,
        N_("Birthday greeting"),
        N_("Happy birthday, %(name)s! %(store)s has a gift for you: %(coupon)s."),
        ("name", "store", "coupon"),
    ),
    Template(
        "holiday_greeting",
        MARKETING,
        N_("Holiday greeting"),
        N_("Season's greetings from %(store)s, %(name)s. We look forward to seeing you."),
        ("name", "store"),
    ),
    Template(
        "flu_season",
        CARE,
        N_("Flu season"),
        N_("%(name)s, flu season is here. Pharmacists at %(store)s can advise you on staying well."),
        ("name", "store"),
    ),
    Template(
        "confirm_details",
        SERVICE,
        N_("Confirm your details"),
        N_("%(name)s, please confirm your contact details at %(store)s on your next visit."),
        ("name", "store"),
    ),
    Template(
        "churn_winback",
        MARKETING,
        N_("We miss you"),
        N_("We miss you, %(name)s! Come back to %(store)s: %(coupon)s."),
        ("name", "store", "coupon"),
    ),
    Template(
        "urgent_task",
        STAFF,
        N_("Urgent task (staff notice)"),
        N_("Urgent task at %(store)s: %(task)s for %(name)s, due %(date)s."),
        ("store", "task", "name", "date"),
    ),
)
_BY_CODE = {t.code: t for t in _TEMPLATES}
# What a sensitive variable reads as when it may not be named.
_GENERIC = {"drug": N_("your medicine"), "condition": N_("your condition")}


def templates() -> list[Template]:
    """Every template, in a stable order."""
    return list(_TEMPLATES)


def template(code: str) -> Template | None:
    """One template by code."""
    return _BY_CODE.get(code)


class _Blank(dict):
    """Format arguments where a variable not given reads as empty."""

    def __missing__(self, key: str) -> str:
        return ""


def _language_key(language: str) -> str:
    return "zh-CN" if normalize_language(language) == "zh_CN" else "en"


def param_value(value: object, language: str) -> str:
    """A parameter in `language`: a {"zh-CN": …, "en": …} value gives that language's text (or the other)."""
    if isinstance(value, Mapping):
        key = _language_key(language)
        other = "en" if key == "zh-CN" else "zh-CN"
        return str(value.get(key) or value.get(other) or "")
    return "" if value is None else str(value)


def render(code: str, params: Mapping[str, object], language: str, details: bool = False) -> str:
    """The template's text in `language` with its parameters; drug and condition names only when `details`."""
    found = _BY_CODE[code]
    with use_language(language):
        args = _Blank({k: param_value(v, language) for k, v in params.items()})
        for name in SENSITIVE:
            if not details or not args.get(name):
                args[name] = gettext(_GENERIC[name])
        title_msgid = args.get("title")
        if not args.get("task") and title_msgid:
            # A care task's title is a msgid (with the task's params): shown in the notice's language.
            try:
                args["task"] = gettext(title_msgid) % args
            except (KeyError, TypeError, ValueError):
                args["task"] = gettext(title_msgid)
        return gettext(found.text) % args
