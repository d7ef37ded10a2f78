"""The template gettext: the same output as Jinja's new-style gettext (escaping, "%%"), in both languages."""

from __future__ import annotations

from jinja2 import DictLoader, Environment

from app.i18n import gettext, ngettext, use_language
from app.templating import register_filters

SOURCES = {
    "t.html": '{{ _("No known allergies") }}|{{ _("%(age)s years", age=age) }}|{{ _("50%% off") }}|{{ _(who) }}',
    "t.txt": '{{ _("%(age)s years", age=age) }}',
}


def _env(fast: bool) -> Environment:
    env = Environment(loader=DictLoader(SOURCES), autoescape=lambda name: bool(name and name.endswith(".html")))
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    if fast:
        register_filters(env)
    return env


def test_same_output_as_jinjas_own_gettext() -> None:
    for language in ("zh_CN", "en"):
        with use_language(language):
            for name in SOURCES:
                context = {"age": "<b>7</b>", "who": "Open profile"}
                assert _env(True).get_template(name).render(context) == _env(False).get_template(name).render(context)


def test_variables_are_escaped_and_translations_follow_the_language() -> None:
    page = _env(True).get_template("t.html")
    with use_language("en"):
        assert page.render(age="<b>7</b>", who="x") == "No known allergies|&lt;b&gt;7&lt;/b&gt; years|50% off|x"
    with use_language("zh_CN"):
        assert page.render(age=7, who="x").startswith("无已知过敏")


def test_messages_translated_when_compiled_give_the_same_page_in_each_language(tmp_path) -> None:
    from app.templating import LocalizedEnvironment, TranslatingLoader, translate_literals

    for name, source in SOURCES.items():
        (tmp_path / name).write_text(source, encoding="utf-8")
    env = LocalizedEnvironment(
        loader=TranslatingLoader(tmp_path), autoescape=lambda name: bool(name and name.endswith(".html"))
    )
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    register_filters(env)
    context = {"age": "<b>7</b>", "who": "Open profile"}
    for language in ("zh_CN", "en", "zh_CN"):  # one compiled template per language, never mixed up
        with use_language(language):
            for name in SOURCES:
                assert env.get_template(name).render(context) == _env(False).get_template(name).render(context)
    # Only literal messages are replaced; messages with placeholders or variables stay calls.
    compiled = translate_literals(SOURCES["t.html"], "zh_CN")
    assert "No known allergies" not in compiled and '_("%(age)s years", age=age)' in compiled and "_(who)" in compiled
