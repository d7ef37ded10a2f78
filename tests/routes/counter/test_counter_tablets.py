"""Counter tablets and held sales: the cart belongs to the tablet as well as the person, a tablet is named once, a
manager revokes one, another member's card asks whom the sale is for, sales are held and resumed, logging out
holds the open sale."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from zoneinfo import ZoneInfo

import httpx

from app.components.audit import log as audit
from app.components.sales import cart as carts
from app.components.sales import devices
from app.db import fetch
from tests.components.sales.sale_data import count, gtin, make_member
from tests.conftest import actor, csrf_token, login
from tests.routes.counter.test_sale import HX, _at_tablet, _cart, _counter, _lines, _pay, _scan, _stocked


async def _second_tablet(client) -> httpx.AsyncClient:
    """Another browser (another tablet) on the same app."""
    return httpx.AsyncClient(transport=client._transport, base_url="http://testserver")


def _held_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-testid="held-sale" data-cart-id="(\d+)"', html)]


async def test_a_tablets_first_visit_names_it_and_its_cookie_is_long_lived_httponly_and_strict(client) -> None:
    await _stocked()
    token = await login(client, "clerk", tablet=False)
    page = await client.get("/counter")
    assert page.status_code == 200 and 'data-testid="device-form"' in page.text
    assert 'data-testid="scan"' not in page.text  # no counter before the tablet is named
    headers = {**HX, "x-csrftoken": token}
    # A scan from an unnamed tablet is sent to the naming page, it changes no cart.
    refused = await _scan(client, headers, gtin("YS90007"))
    assert refused.status_code == 409 and refused.headers["HX-Redirect"] == "/counter"
    assert await count("cart") == 0

    blank = await client.post("/counter/device", data={"_csrf_token": token, "name": "  "}, follow_redirects=False)
    assert blank.status_code == 422 and 'data-testid="error-name"' in blank.text
    named = await client.post(
        "/counter/device", data={"_csrf_token": token, "name": "收银台 1"}, follow_redirects=False
    )
    assert named.status_code == 303 and named.headers["location"] == "/counter"
    cookie = SimpleCookie(named.headers["set-cookie"])[devices.DEVICE_COOKIE]
    assert cookie["httponly"] and cookie["samesite"].lower() == "strict" and int(cookie["max-age"]) > 300 * 86400
    stored = await fetch("SELECT name, token_hash FROM counter_device")
    assert [r["name"] for r in stored] == ["收银台 1"] and stored[0]["token_hash"] != cookie.value  # hashed
    rows = await fetch("SELECT username, detail FROM audit_event WHERE action = {}", devices.REGISTER)
    assert [r["username"] for r in rows] == ["clerk"] and "收银台 1" in rows[0]["detail"]

    page = await client.get("/counter")
    assert 'data-testid="scan"' in page.text and 'data-testid="device-name"' in page.text
    assert _lines((await _scan(client, headers, gtin("YS90007"))).text) == {"YS90007": 1}


async def test_the_same_login_on_two_tablets_has_two_carts(client) -> None:
    await _stocked()
    headers = await _counter(client)
    await _scan(client, headers, gtin("YS90007"))
    other = await _second_tablet(client)
    async with other:
        token = await login(other, "pharmacist")
        other_headers = {**HX, "x-csrftoken": token}
        assert _lines(await _cart(other, other_headers)) == {}  # the first tablet's line is not here
        await _scan(other, other_headers, gtin("YS90008"))
        await _scan(other, other_headers, gtin("YS90008"))
        assert _lines(await _cart(other, other_headers)) == {"YS90008": 2}
    assert _lines(await _cart(client, headers)) == {"YS90007": 1}
    assert (await fetch("SELECT COUNT(DISTINCT device) AS n FROM cart WHERE status = 'open'"))[0]["n"] == 2


async def test_logging_out_holds_the_open_sale_for_nobody_to_see_until_resumed(client) -> None:
    await _stocked()
    member_no = await make_member("周健", status="none")
    headers = await _counter(client)
    await _scan(client, headers, member_no)
    await _scan(client, headers, gtin("YS90007"))
    await client.post("/logout", headers={"x-csrftoken": headers["x-csrftoken"]})

    clerk = await _counter(client, "clerk")  # the next person on this tablet
    page = await client.get("/counter")
    assert _lines(page.text) == {} and 'data-testid="cart-walk-in"' in page.text and member_no not in page.text
    held = await client.get("/counter/held")
    assert len(_held_ids(held.text)) == 1 and "周健" in held.text and "王药师" in held.text  # for whom, by whom
    # A clerk of the same store may resume it (the customer is still at the counter).
    resumed = await client.post(f"/counter/held/{_held_ids(held.text)[0]}/resume", headers=clerk)
    assert resumed.status_code == 200 and resumed.headers["HX-Redirect"] == "/counter"
    cart = await carts.current(await _at_tablet(client, "clerk"))
    assert cart.member_no == member_no and [line.qty for line in cart.lines] == [1]
    assert _held_ids((await client.get("/counter/held")).text) == []


async def test_another_members_card_asks_and_a_new_sale_holds_the_first(client) -> None:
    await _stocked()
    first, second = await make_member("张伟", status="none"), await make_member("李娜", status="none")
    headers = await _counter(client)
    await _scan(client, headers, first)
    html = (await _scan(client, headers, gtin("YS90007"))).text
    asked = await _scan(client, headers, second)
    assert asked.status_code == 200 and asked.headers["HX-Reswap"] == "none"  # the member panel stays 张伟's
    assert f'data-testid="member-switch"\n       data-member-no="{second}"' in asked.text
    assert 'data-testid="switch-new"' in asked.text and 'data-testid="switch-move"' in asked.text
    cart = await carts.current(await _at_tablet(client))
    assert cart.member_no == first and _lines(asked.text) == {"YS90007": 1}
    # Until someone answers, nothing is paid: not the first member's sale for the second one either.
    assert 'data-testid="pay" disabled' in asked.text
    refused = await _pay(client, headers, html)
    assert refused.status_code == 409 and await count("sale") == 0

    stale = await client.post("/counter/cart/switch", data={"choice": "new", "cart_key": "0" * 32}, headers=headers)
    assert stale.status_code == 409 and 'data-testid="error-switch"' in stale.text
    new = await client.post("/counter/cart/switch", data={"choice": "new", "cart_key": cart.key}, headers=headers)
    assert new.status_code == 200 and 'data-testid="cart-empty"' in new.text
    assert f'data-testid="cart-member" data-member-no="{second}"' in new.text
    panel = re.search(r'<section id="member" hx-swap-oob="innerHTML">\s*<article [^>]*data-member-no="(\d+)"', new.text)
    assert panel and panel.group(1) == second  # the member panel is the new customer's
    held = (await client.get("/counter/held")).text
    assert len(_held_ids(held)) == 1 and "张伟" in held
    assert 'data-testid="held-count">1<' in await _cart(client, headers)


async def test_moving_the_lines_checks_them_against_the_new_members_allergies(client) -> None:
    await _stocked()
    first = await make_member("张伟", status="none")
    allergic = await make_member("李娜", allergies=("penicillins",))
    headers = await _counter(client)
    await _scan(client, headers, first)
    html = (await _scan(client, headers, gtin("YS90001"))).text  # amoxicillin: fine for 张伟
    assert 'data-code="allergy_high"' not in html
    await _scan(client, headers, allergic)
    cart = await carts.current(await _at_tablet(client))
    moved = await client.post("/counter/cart/switch", data={"choice": "move", "cart_key": cart.key}, headers=headers)
    assert 'data-code="allergy_high"' in moved.text and 'data-testid="pay" disabled' in moved.text
    assert f'data-testid="cart-member" data-member-no="{allergic}"' in moved.text
    kept = await carts.current(await _at_tablet(client))
    assert kept.key == cart.key and kept.pending_member_id is None  # the same sale, now 李娜's


async def test_keep_answers_the_question_and_the_sale_stays(client) -> None:
    await _stocked()
    first, second = await make_member("张伟", status="none"), await make_member("李娜", status="none")
    headers = await _counter(client)
    await _scan(client, headers, first)
    await _scan(client, headers, gtin("YS90007"))
    await _scan(client, headers, second)
    cart = await carts.current(await _at_tablet(client))
    kept = await client.post("/counter/cart/switch", data={"choice": "keep", "cart_key": cart.key}, headers=headers)
    assert 'data-testid="member-switch"' not in kept.text and 'data-testid="pay" ' in kept.text
    assert 'data-testid="pay" disabled' not in kept.text
    assert (await carts.current(await _at_tablet(client))).member_no == first


async def test_a_held_sale_expires_at_the_store_day_end_visibly(client) -> None:
    await _stocked()
    headers = await _counter(client)
    await _scan(client, headers, gtin("YS90007"))
    parked = await client.post("/counter/cart/park", headers=headers)
    assert 'data-testid="parked"' in parked.text and 'data-testid="cart-empty"' in parked.text
    rows = await fetch("SELECT id, parked_at, expires_at FROM cart WHERE status = 'parked'")
    local_end = rows[0]["expires_at"].astimezone(ZoneInfo("Asia/Shanghai"))
    assert (local_end.hour, local_end.minute) == (0, 0) and rows[0]["expires_at"] > rows[0]["parked_at"]
    assert rows[0]["expires_at"] - rows[0]["parked_at"] <= timedelta(days=1)
    held = (await client.get("/counter/held")).text
    assert 'data-testid="held-expires"' in held and 'data-testid="held-resume"' in held

    # The day ended (the row is set back: no clock is moved).
    await fetch(
        "UPDATE cart SET expires_at = {} WHERE id = {}", datetime.now(UTC) - timedelta(minutes=1), rows[0]["id"]
    )
    held = (await client.get("/counter/held")).text
    assert 'data-testid="held-expired"' in held and 'data-testid="held-resume"' not in held
    refused = await client.post(f"/counter/held/{rows[0]['id']}/resume", headers=headers)
    assert refused.status_code == 409 and 'data-testid="held-error"' in refused.text
    assert (await fetch("SELECT status FROM cart WHERE id = {}", rows[0]["id"]))[0]["status"] == "expired"


def test_a_held_sale_expires_after_the_setting_when_it_is_set(monkeypatch) -> None:
    from dataclasses import replace

    from app.settings import get_settings

    parked = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    assert carts._expiry("Asia/Shanghai", parked) == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    monkeypatch.setattr(carts, "get_settings", lambda: replace(get_settings(), held_sale_hours=4))
    assert carts._expiry("Asia/Shanghai", parked) == parked + timedelta(hours=4)


async def test_a_store_manager_sees_and_revokes_tablets_and_what_was_open_is_held(client) -> None:
    await _stocked()
    headers = await _counter(client, "clerk")
    await _scan(client, headers, gtin("YS90007"))
    clerk_device = devices.device_id(await _at_tablet(client, "clerk"))

    async with await _second_tablet(client) as phone:
        await login(phone, "manager")
        listed = await phone.get("/manager/devices")
        assert listed.status_code == 200 and f'data-device-id="{clerk_device}" data-active="true"' in listed.text
        token = await csrf_token(phone, "/manager/devices")
        revoked = await phone.post(f"/manager/devices/{clerk_device}/revoke", headers={**HX, "x-csrftoken": token})
        assert f'data-device-id="{clerk_device}" data-active="false"' in revoked.text
        assert 'data-testid="device-revoked"' in revoked.text
    assert [
        r["username"] for r in await fetch("SELECT username FROM audit_event WHERE action = {}", devices.REVOKE)
    ] == ["manager"]
    # The revoked tablet is asked for its name again; the clerk's line waits in the held sales.
    assert (await _scan(client, headers, gtin("YS90007"))).headers["HX-Redirect"] == "/counter"
    assert 'data-testid="device-form"' in (await client.get("/counter")).text
    assert (await fetch("SELECT status FROM cart WHERE device = {}", clerk_device))[0]["status"] == "parked"
    # Another store's manager cannot revoke this store's tablets.
    assert await audit.count(devices.REVOKE) == 1


async def test_a_clerk_may_not_list_or_revoke_tablets(client) -> None:
    headers = await _counter(client, "clerk")
    assert (await client.get("/manager/devices")).status_code == 403
    device = devices.device_id(await _at_tablet(client, "clerk"))
    assert (await client.post(f"/manager/devices/{device}/revoke", headers=headers)).status_code == 403
    assert (await fetch("SELECT revoked_at FROM counter_device WHERE id = {}", device))[0]["revoked_at"] is None


async def test_a_tablet_of_another_store_is_no_tablet_of_this_one(client) -> None:
    await _stocked()
    await _counter(client, "pharmacist2")  # names the tablet for SH002
    await login(client, "pharmacist")  # SH001, same browser
    page = await client.get("/counter")
    assert 'data-testid="device-form"' in page.text and 'data-testid="device-other-store"' in page.text


async def test_open_carts_of_before_the_tablets_are_held_by_the_migration(client) -> None:
    from app.tables.migrate import _m0007_counter_devices

    await _stocked()
    staff = (await actor()).id
    store = (await fetch("SELECT id FROM store WHERE code = 'SH001'"))[0]["id"]
    for lines in ('[{"product_id": 1, "qty": 2}]', "[]"):
        await fetch(
            "INSERT INTO cart (key, store, staff, member, lines, coupon_codes, prescription, override, status,"
            " created_at, updated_at, device, tender) VALUES ({}, {}, {}, NULL, {}, {}, {}, {}, 'open', {}, {},"
            " NULL, {})",
            lines[:20].replace(" ", "").replace('"', "") + str(len(lines)),
            store,
            staff,
            lines,
            "[]",
            "{}",
            "{}",
            datetime.now(UTC),
            datetime.now(UTC),
            "{}",
        )
    await fetch("ALTER TABLE cart DROP COLUMN tender")  # a database of before the migration
    await _m0007_counter_devices()
    await _m0007_counter_devices()  # idempotent
    rows = await fetch("SELECT status, tender FROM cart ORDER BY id")
    assert [r["status"] for r in rows] == ["parked", "abandoned"] and rows[0]["tender"] in ("{}", {})
