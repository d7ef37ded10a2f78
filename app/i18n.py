"""UI language: gettext through Babel catalogs, the current language held per request in a context variable."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from io import BytesIO

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from app.settings import ROOT

LOCALE_DIR = ROOT / "locale"
LANGUAGES = {"zh_CN": "中文", "en": "English"}
DEFAULT_LANGUAGE = "zh_CN"

current_language: ContextVar[str] = ContextVar("current_language", default=DEFAULT_LANGUAGE)


@cache
def translations(language: str) -> NullTranslations:
    """The catalog for `language` (English is the source language).

    The build compiles `.mo` files; when one is missing or older than its `.po` (a checkout run without
    `make`), the `.po` is compiled in memory so the UI is never silently English.
    """
    if language == "en":
        return NullTranslations()
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    po, mo = folder / "messages.po", folder / "messages.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        return Translations.load(str(LOCALE_DIR), [language], domain="messages")
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer, domain="messages")


def normalize_language(value: str | None) -> str:
    """A supported language code, or the default."""
    if not value:
        return DEFAULT_LANGUAGE
    value = value.replace("-", "_")
    if value in LANGUAGES:
        return value
    if value.lower().startswith("zh"):
        return "zh_CN"
    if value.lower().startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


@contextmanager
def use_language(language: str) -> Iterator[None]:
    """Run a block in `language` (jobs and tests; requests get theirs from the middleware)."""
    token = current_language.set(normalize_language(language))
    try:
        yield
    finally:
        current_language.reset(token)


def gettext(message: str) -> str:
    """Translate into the current request's language."""
    return translations(current_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Plural-aware translation into the current language."""
    return translations(current_language.get()).ngettext(singular, plural, n)


def pick(zh: str, en: str) -> str:
    """Choose between the two labels a data file carries, by current language."""
    return zh if current_language.get() == "zh_CN" else en


def N_(message: str) -> str:
    """Mark `message` for the catalog without translating it now (it is translated when shown)."""
    return message


def list_separator() -> str:
    """What goes between the items of a list in running text: 、 in Chinese, a comma and space in English."""
    return "、" if current_language.get() == "zh_CN" else ", "


def join_list(items: Iterable[str]) -> str:
    """A list in running text, with the current language's separator."""
    return list_separator().join(items)


_ = gettext
