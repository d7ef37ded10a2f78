"""The UI speaks Simplified Chinese by default and English on request, and the zh_CN catalog is complete.

The compiled catalog (.mo) is a build product (`make install`); this module compiles it itself when it is missing or
older than the .po, so `pytest tests/test_i18n.py` works on a fresh checkout too.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import httpx
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from app.i18n import translations
from app.routes.middleware import LANG_COOKIE
from app.settings import ROOT
from tests.conftest import csrf_token, login

PO_FILE = ROOT / "locale" / "zh_CN" / "LC_MESSAGES" / "messages.po"
MO_FILE = PO_FILE.with_suffix(".mo")
PLACEHOLDER_RE = re.compile(r"%\(\w+\)[sd]")


def _read_catalog() -> Catalog:
    with PO_FILE.open("rb") as f:
        return read_po(f, locale="zh_CN")


def _compile_catalog_if_stale() -> None:
    """Build the .mo from the .po (as `pybabel compile` would) unless an up-to-date one exists."""
    if MO_FILE.exists() and MO_FILE.stat().st_mtime >= PO_FILE.stat().st_mtime:
        return
    catalog = _read_catalog()
    fd, tmp = tempfile.mkstemp(dir=MO_FILE.parent, suffix=".mo.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write_mo(f, catalog, use_fuzzy=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, MO_FILE)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    translations.cache_clear()  # a catalog looked up before it existed was cached as "no translations"


_compile_catalog_if_stale()


async def switch_language(client: httpx.AsyncClient, language: str, page: str) -> None:
    """Use the language switch in the top bar of `page`, as a user would."""
    token = await csrf_token(client, page)
    response = await client.post(
        "/language", data={"_csrf_token": token, "language": language, "next": page}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == page


def assert_chinese(html: str) -> None:
    assert '<html lang="zh-CN">' in html


def assert_english(html: str) -> None:
    assert '<html lang="en">' in html


# --- Login page ------------------------------------------------------------------------------------------------


async def test_login_page_is_chinese_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/login")
    assert response.status_code == 200
    html = response.text
    assert_chinese(html)
    for text in ("登录", "用户名", "密码"):
        assert text in html
    assert "Log in" not in html
    assert "Password" not in html
    assert 'data-testid="lang-en">English<' in html  # the way out is offered


async def test_language_switch_turns_login_page_english(client: httpx.AsyncClient) -> None:
    await switch_language(client, "en", "/login")
    html = (await client.get("/login")).text
    assert_english(html)
    for text in ("Log in", "Username", "Password"):
        assert text in html
    assert "登录" not in html
    assert 'data-testid="lang-zh_CN">中文<' in html  # and the way back


async def test_login_page_can_switch_back_to_chinese(client: httpx.AsyncClient) -> None:
    await switch_language(client, "en", "/login")
    await switch_language(client, "zh_CN", "/login")
    html = (await client.get("/login")).text
    assert_chinese(html)
    assert "登录" in html
    assert "Log in" not in html


async def test_wrong_password_message_follows_language(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client)
    data = {"_csrf_token": token, "username": "pharmacist", "password": "not-the-password"}
    response = await client.post("/login", data=data)
    assert 400 <= response.status_code < 500
    assert "用户名或密码错误。" in response.text

    await switch_language(client, "en", "/login")
    data["_csrf_token"] = await csrf_token(client)
    response = await client.post("/login", data=data)
    assert 400 <= response.status_code < 500
    assert "Wrong username or password." in response.text
    assert "用户名或密码错误" not in response.text


# --- Logged-in counter ---------------------------------------------------------------------------------------------


async def test_counter_is_chinese_by_default(client: httpx.AsyncClient) -> None:
    await login(client, "pharmacist")
    response = await client.get("/counter")
    assert response.status_code == 200
    html = response.text
    assert_chinese(html)
    for text in ("柜台", "退出登录", "扫描会员卡，或输入会员号、手机号", "查询"):
        assert text in html
    for text in ("Counter", "Log out", "Scan a member card"):
        assert text not in html


async def test_counter_switches_to_english_and_stays_english(client: httpx.AsyncClient) -> None:
    await login(client, "pharmacist")
    await switch_language(client, "en", "/counter")

    html = (await client.get("/counter")).text
    assert_english(html)
    for text in ("Counter", "Log out", "Scan a member card, or type a member or phone number", "Find"):
        assert text in html
    for text in ("柜台", "退出登录"):
        assert text not in html

    # The choice lives in the session: it holds on later pages even without the language cookie.
    client.cookies.delete(LANG_COOKIE)
    for path in ("/counter", "/counter/register", "/counter"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert_english(response.text)
        assert "Log out" in response.text
        assert "退出登录" not in response.text
    assert "Register a member" in (await client.get("/counter/register")).text


async def test_language_chosen_before_login_carries_into_the_session(client: httpx.AsyncClient) -> None:
    await switch_language(client, "en", "/login")
    await login(client, "pharmacist")
    client.cookies.delete(LANG_COOKIE)
    html = (await client.get("/counter")).text
    assert_english(html)
    assert "Counter" in html
    assert "柜台" not in html


async def test_language_is_per_session(client: httpx.AsyncClient) -> None:
    """One user switching to English does not change the language another browser sees."""
    await login(client, "pharmacist")
    await switch_language(client, "en", "/counter")
    english_browser = httpx.Cookies(client.cookies)

    client.cookies.clear()  # a second browser: no cookies, its own session
    await login(client, "pharmacist")
    html = (await client.get("/counter")).text
    assert_chinese(html)
    assert "柜台" in html

    client.cookies = english_browser
    html = (await client.get("/counter")).text
    assert_english(html)
    assert "Counter" in html


# --- Catalog --------------------------------------------------------------------------------------------------


def test_zh_cn_catalog_is_complete() -> None:
    catalog = _read_catalog()
    assert catalog.locale_identifier == "zh_CN", f"header Language is {catalog.locale_identifier}, not zh_CN"
    assert catalog.num_plurals == 1
    assert catalog.plural_expr == "0"
    assert not catalog.fuzzy, "the catalog header is marked fuzzy"
    assert not catalog.obsolete, f"obsolete entries left in the catalog: {list(catalog.obsolete)}"

    untranslated, fuzzy, placeholders = [], [], []
    for message in catalog:
        if not message.id:
            continue  # the header
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if len(strings) != catalog.num_plurals or not all(s and s.strip() for s in strings):
            untranslated.append(message.id)
        if message.fuzzy:
            fuzzy.append(message.id)
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set(PLACEHOLDER_RE.findall(ids[-1]))
        if any(set(PLACEHOLDER_RE.findall(s)) != wanted for s in strings):
            placeholders.append(message.id)
    assert not untranslated, f"untranslated: {untranslated}"
    assert not fuzzy, f"fuzzy: {fuzzy}"
    assert not placeholders, f"placeholders differ from the source: {placeholders}"


def test_every_ui_string_in_the_source_is_in_the_catalog() -> None:
    """Strings added to app/ or templates/ must be extracted and translated (`make messages`, then translate)."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)

    def only_app_and_templates(path: str) -> bool:
        parts = Path(os.path.relpath(path, ROOT)).parts
        return parts[0] in {"app", "templates"} and not parts[-1].startswith(".") and parts[-1] != "__pycache__"

    found = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT, method_map, options_map, keywords=DEFAULT_KEYWORDS, directory_filter=only_app_and_templates
        )
    }
    assert found, "extraction found no strings at all"
    in_catalog = {message.id for message in _read_catalog() if message.id}
    assert not found - in_catalog, f"not in the zh_CN catalog: {sorted(found - in_catalog, key=str)}"
