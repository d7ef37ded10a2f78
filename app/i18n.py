"""UI language: gettext through Babel catalogs, the current language held per request in a context variable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache

from babel.support import NullTranslations, Translations

from app.settings import ROOT

LOCALE_DIR = ROOT / "locale"
LANGUAGES = {"zh_CN": "中文", "en": "English"}
DEFAULT_LANGUAGE = "zh_CN"

current_language: ContextVar[str] = ContextVar("current_language", default=DEFAULT_LANGUAGE)


@cache
def translations(language: str) -> NullTranslations:
    """The compiled catalog for `language` (English is the source language)."""
    if language == "en":
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [language], domain="messages")


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


_ = gettext
