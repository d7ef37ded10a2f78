"""The profile's details section (edit with history, verification), the printable card and PATCH in the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import barcode
import segno

from app.components import health, members
from app.components.audit import log as audit
from app.components.members.numbers import id_check_digit
from app.components.sales import purchases
from app.db import fetch
from tests.conftest import actor, api_headers, login

HX = {"HX-Request": "true"}


async def _headers(client, username: str = "pharmacist") -> dict[str, str]:
    token = await login(client, username)
    return {**HX, "x-csrftoken": token}


async def _member(**fields: str) -> members.MemberView:
    data = members.NewMember(name="林志玲", gender="F", phone="13712345678", birth_date="1974-11-29", **fields)
    return await members.register(data, await actor())


def _form(**changes: str) -> dict[str, str]:
    base = {
        "name": "林志玲",
        "gender": "F",
        "birth_date": "1974-11-29",
        "phone": "13712345678",
        "address": "",
        "id_number": "",
        "member_class": "member",
        "organisation": "",
        "responsible_pharmacist": "",
    }
    return {**base, **changes}


async def test_details_show_identifiers_masked_and_the_address_in_clear(client, staff_ids) -> None:
    view = await _member(
        address="上海市长宁区愚园路 100 号",
        member_class="key_account",
        organisation="长宁区敬老院",
        responsible_pharmacist=str(staff_ids["pharmacist"]),
    )
    await _headers(client)
    response = await client.get(f"/members/{view.member_no}/details", headers=HX)
    assert response.status_code == 200 and "<html" not in response.text
    html = response.text
    assert "137****5678" in html and "13712345678" not in html
    assert "上海市长宁区愚园路 100 号" in html and "长宁区敬老院" in html and "王药师" in html
    assert 'data-testid="details-history"' in html and 'data-testid="details-confirm"' in html
    assert await audit.count(members.DETAILS_VIEW) == 1
    # A browser opening the section's URL lands on the profile; an unknown number is a 404.
    page = await client.get(f"/members/{view.member_no}/details", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == f"/members/{view.member_no}#sec-details"
    missing = await client.get("/members/8000009995/details", headers=HX)
    assert missing.status_code == 404 and "8000009995" in missing.text


async def test_resident_id_is_shown_masked(client) -> None:
    body = "31010119741129002"
    number = body + id_check_digit(body)
    view = await _member(id_number=number)
    await _headers(client)
    html = (await client.get(f"/members/{view.member_no}/details", headers=HX)).text
    assert f"3101**********{number[-4:]}" in html and number not in html


async def test_edit_form_reveals_the_phone_audited_and_saves_with_history(client, staff_ids) -> None:
    view = await _member()
    headers = await _headers(client)
    form = await client.get(f"/members/{view.member_no}/details/edit", headers=HX)
    assert form.status_code == 200 and 'value="13712345678"' in form.text  # in clear only here
    assert "身份证号留空则保留已登记的号码。" in form.text  # the shared fields in their edit variant
    assert await audit.count(members.PHONE_REVEAL) == 1

    saved = await client.post(
        f"/members/{view.member_no}/details",
        data=_form(
            phone="13787654321",
            address="台北路 1 号",
            member_class="key_account",
            organisation="台北路社区",
            responsible_pharmacist=str(staff_ids["pharmacist"]),
        ),
        headers=headers,
    )
    assert saved.status_code == 200, saved.text
    html = saved.text
    assert 'data-testid="details-saved"' in html
    fields = re.findall(r'data-testid="history-row" data-field="(\w+)"', html)
    assert sorted(fields) == ["address", "member_class", "organisation", "phone", "responsible_pharmacist"]
    assert "13787654321" not in html and "137****4321" in html
    rows = await fetch("SELECT field, old_value, new_value, staff FROM member_change ORDER BY id")
    assert {r["staff"] for r in rows} == {staff_ids["pharmacist"]}
    by_field = {r["field"]: (r["old_value"], r["new_value"]) for r in rows}
    assert by_field["phone"] == ("", "changed") and by_field["address"] == ("", "added")
    assert by_field["member_class"] == ("member", "key_account")
    events = await fetch("SELECT kind FROM member_event WHERE kind = 'edited'")
    assert len(events) == 1

    # The same form again changes nothing and writes nothing.
    again = await client.post(
        f"/members/{view.member_no}/details",
        data=_form(
            phone="137 8765 4321",
            address="台北路 1 号",
            member_class="key_account",
            organisation="台北路社区",
            responsible_pharmacist=str(staff_ids["pharmacist"]),
        ),
        headers=headers,
    )
    assert again.status_code == 200 and len(await fetch("SELECT id FROM member_change")) == 5


async def test_edit_errors_come_back_next_to_the_fields_with_every_value(client, staff_ids) -> None:
    view = await _member()
    headers = await _headers(client)
    response = await client.post(
        f"/members/{view.member_no}/details",
        data=_form(
            name="",
            phone="12345",
            id_number="110105194912310021",
            member_class="key_account",
            responsible_pharmacist=str(staff_ids["pharmacist2"]),
            address="南京东路 1 号",
        ),
        headers=headers,
    )
    assert response.status_code == 422
    for name in ("name", "phone", "id_number", "organisation", "responsible_pharmacist"):
        assert f'data-testid="error-{name}"' in response.text, name
    assert 'value="12345"' in response.text and 'value="110105194912310021"' in response.text
    assert 'value="南京东路 1 号"' in response.text and 'value="key_account" checked' in response.text
    assert await fetch("SELECT id FROM member_change") == []


async def test_details_confirmed_clears_the_counter_flag(client) -> None:
    view = await _member()
    old = datetime.now(UTC) - timedelta(days=400)
    await fetch("UPDATE member SET verified_at = {}, created_at = {} WHERE id = {}", old, old, view.id)
    headers = await _headers(client)
    panel = await client.get(f"/counter/members/{view.member_no}", headers=HX)
    assert 'data-testid="verify-flag"' in panel.text
    section = await client.get(f"/members/{view.member_no}/details", headers=HX)
    assert 'data-testid="details-verify-due"' in section.text
    confirmed = await client.post(f"/members/{view.member_no}/verify", headers=headers)
    assert confirmed.status_code == 200 and 'data-testid="details-verified"' in confirmed.text
    assert 'data-testid="details-verify-due"' not in confirmed.text and "王药师" in confirmed.text
    panel = await client.get(f"/counter/members/{view.member_no}", headers=HX)
    assert 'data-testid="verify-flag"' not in panel.text
    kinds = [e["kind"] for e in await fetch("SELECT kind FROM member_event WHERE member = {}", view.id)]
    assert "verified" in kinds


def _qr_matrix(svg: str) -> list[list[int]]:
    """Rebuild the module matrix from segno's path (M/m moves, h runs), border 4."""
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1)) - 8
    path = re.search(r' d="([^"]+)"', svg).group(1)
    grid = [[0] * size for _ in range(size)]
    x = y = 0.0
    for cmd, a, b in re.findall(r"([MmHh])(-?\d+(?:\.\d+)?)(?: (-?\d+(?:\.\d+)?))?", path):
        if cmd == "M":
            x, y = float(a), float(b)
        elif cmd == "m":
            x, y = x + float(a), y + float(b)
        else:
            for col in range(int(x), int(x + float(a))):
                grid[int(y - 0.5) - 4][col - 4] = 1
            x += float(a)
    return grid


def _bars(svg: str, module: float = 0.3, quiet: float = 3.0) -> str:
    """The module pattern (1 = bar) drawn by python-barcode's SVG rects."""
    rects = re.findall(r'<rect x="([\d.]+)mm" y="[\d.]+mm" width="([\d.]+)mm"', svg)
    cells: dict[int, int] = {}
    for x, width in rects:
        start = round((float(x) - quiet) / module)
        for i in range(round(float(width) / module)):
            cells[start + i] = 1
    return "".join(str(cells.get(i, 0)) for i in range(max(cells) + 1))


async def test_card_page_has_a_code128_barcode_and_a_qr_code_of_the_member_number(client) -> None:
    view = await _member()
    await _headers(client, "clerk")
    response = await client.get(f"/members/{view.member_no}/card")
    assert response.status_code == 200
    html = response.text
    assert "<html" in html and 'class="member-print"' in html and 'data-testid="print"' in html
    # The card prints alone at its own size: the stylesheet's named page.
    css = (await client.get("/static/css/yaoshi.css")).text
    assert "@page member-card { size: 85.6mm 54mm;" in css and ".member-print { page: member-card; }" in css
    assert "林志玲" in html and "上海南京西路店" in html
    barcode_svg = re.search(r'data-testid="card-barcode"[^>]*>(<svg.*?</svg>)', html, re.S).group(1)
    assert _bars(barcode_svg) == barcode.get("code128", view.member_no).build()[0]
    assert f">{view.member_no}</text>" in barcode_svg  # the number printed under the bars
    qr_svg = re.search(r'data-testid="card-qr"[^>]*>(<svg.*?</svg>)', html, re.S).group(1)
    expected = segno.make_qr(view.member_no, error=members.QR_ERROR)
    assert _qr_matrix(qr_svg) == [[int(v) for v in row] for row in expected.matrix]
    assert not _qr_matrix(qr_svg) == [
        [int(v) for v in row] for row in segno.make_qr(members.member_no_for(999), error=members.QR_ERROR).matrix
    ]
    missing = await client.get("/members/8000009995/card")
    assert missing.status_code == 404 and "8000009995" in missing.text


async def test_patch_api_updates_some_fields_with_history(client, staff_ids) -> None:
    view = await _member()
    headers = await api_headers()
    response = await client.patch(
        f"/api/v1/members/{view.member_no}",
        json={"member_class": "regular", "address": "愚园路 1 号", "responsible_pharmacist": staff_ids["pharmacist"]},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["member_class"] == "regular" and body["responsible_pharmacist"] == staff_ids["pharmacist"]
    assert sorted(body["changed"]) == ["address", "member_class", "responsible_pharmacist"]
    assert body["name"] == "林志玲" and body["phone"] == "137****5678"  # untouched fields stay
    assert "愚园路" not in response.text
    rows = await fetch("SELECT field FROM member_change ORDER BY field")
    assert [r["field"] for r in rows] == ["address", "member_class", "responsible_pharmacist"]
    channel = await fetch("SELECT channel FROM audit_event WHERE action = {}", members.MEMBER_EDIT)
    assert channel == [{"channel": "api"}]

    cleared = await client.patch(f"/api/v1/members/{view.member_no}", json={"address": ""}, headers=headers)
    assert cleared.status_code == 200 and cleared.json()["changed"] == ["address"]
    nothing = await client.patch(f"/api/v1/members/{view.member_no}", json={}, headers=headers)
    assert nothing.status_code == 200 and nothing.json()["changed"] == []


async def test_patch_api_errors_and_unknown_members(client) -> None:
    view = await _member()
    headers = await api_headers()
    bad = await client.patch(
        f"/api/v1/members/{view.member_no}",
        json={"phone": "12345", "id_number": "110105194912310021", "member_class": "key_account"},
        headers=headers,
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"phone", "id_number", "organisation"}
    assert await fetch("SELECT id FROM member_change") == []
    missing = await client.patch("/api/v1/members/8000009995", json={"name": "x"}, headers=headers)
    assert missing.status_code == 404 and "8000009995" in missing.json()["errors"][0]["message"]
    analyst = await client.patch(
        f"/api/v1/members/{view.member_no}", json={"name": "x"}, headers=await api_headers("analyst")
    )
    assert analyst.status_code == 403


async def test_api_registration_accepts_the_new_fields(client, staff_ids) -> None:
    headers = await api_headers()
    bad = await client.post(
        "/api/v1/members",
        json={"name": "企业客户", "member_class": "key_account", "id_number": "11010519491231002X"},
        headers=headers,
    )
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["organisation"]
    good = await client.post(
        "/api/v1/members",
        json={
            "name": "企业客户",
            "member_class": "key_account",
            "organisation": "浦东养老院",
            "id_number": "11010519491231002X",
            "address": "浦东大道 1 号",
            "responsible_pharmacist": str(staff_ids["pharmacist"]),
        },
        headers=headers,
    )
    assert good.status_code == 201, good.text
    body = good.json()
    assert (body["birth_date"], body["member_class"], body["organisation"]) == (
        "1949-12-31",
        "key_account",
        "浦东养老院",
    )
    assert body["missing"] == ["phone", "health", "consents"]
    assert "11010519491231002X" not in good.text and "浦东大道" not in good.text


async def test_timeline_section_is_audited_and_in_the_readers_language(client) -> None:
    view = await _member()
    token = await login(client, "pharmacist")
    await client.post("/language", data={"_csrf_token": token, "language": "en"}, follow_redirects=False)
    before = await audit.count(health.TIMELINE_VIEW)
    page = await client.get(f"/members/{view.member_no}/timeline", headers=HX)
    assert page.status_code == 200
    assert "Registered as Member" in page.text  # registered by a pharmacist working in Chinese
    assert await audit.count(health.TIMELINE_VIEW) == before + 1


async def test_purchases_and_points_sections_show_what_the_member_bought(client) -> None:
    from app.components import sales
    from tests.components.sales.sale_data import make_member, make_products, request, stock_in

    await make_products()
    await stock_in("YS90005", 10, "B1")
    member_no = await make_member("钱芳")
    await stock_in("YS90007", 10, "B1")
    lines = [("YS90005", 2), ("YS90007", 1)]
    sale = await sales.record_sale(await request("p1", member_no=member_no, lines=lines), await actor())
    await login(client, "clerk")
    before = await audit.count(purchases.PURCHASES_VIEW)
    page = await client.get(f"/members/{member_no}/purchases", headers=HX)
    assert page.status_code == 200
    assert f'data-sale-no="{sale.sale.sale_no}"' in page.text and "氨氯地平片" in page.text
    assert "氨氯地平片 ×2、维生素C片 ×1" in page.text  # a list in Chinese
    # 2 packs × 28 tablets at 1 a day: a supply of 56 days, so the medicine is in use.
    assert 'data-testid="medicine"' in page.text and "C08CA01" in page.text
    assert await audit.count(purchases.PURCHASES_VIEW) == before + 1  # medicines are health data
    points = await client.get(f"/members/{member_no}/points", headers=HX)
    assert points.status_code == 200
    assert f'data-testid="points-balance">{sale.sale.points_earned}<' in points.text
    assert 'data-kind="earn"' in points.text
    assert (await client.get("/members/8000009995/purchases", headers=HX)).status_code == 404
    page = await client.get(f"/members/{member_no}")
    assert 'hx-get="/members/' + member_no + '/purchases"' in page.text


async def test_points_buy_a_gift_once_and_errors_keep_what_was_typed(client) -> None:
    from app.components import loyalty, sales
    from tests.components.sales.sale_data import make_member, make_products, request, stock_in

    await make_products()
    await stock_in("YS90005", 10, "B1")
    member_no = await make_member("郑洁")
    sale = await sales.record_sale(await request("g1", member_no=member_no, lines=[("YS90005", 2)]), await actor())
    earned = sale.sale.points_earned
    token = await login(client, "clerk")
    headers = {**HX, "x-csrftoken": token}
    url = f"/members/{member_no}/points/gifts"
    too_many = await client.post(url, data={"key": "k1", "gift": "保温杯", "points": str(earned + 1)}, headers=headers)
    assert too_many.status_code == 422 and 'data-testid="error-points"' in too_many.text
    assert 'value="保温杯"' in too_many.text  # nothing typed is lost
    no_name = await client.post(url, data={"key": "k1", "gift": " ", "points": "10"}, headers=headers)
    assert no_name.status_code == 422 and 'data-testid="error-gift"' in no_name.text
    for _ in range(2):  # a double tap
        done = await client.post(url, data={"key": "k2", "gift": "保温杯", "points": "10"}, headers=headers)
        assert done.status_code == 200 and 'data-testid="gift-done"' in done.text
    member_id = await members.member_id(member_no)
    assert await loyalty.balance(member_id) == earned - 10
    service = await login(client, "service")
    refused = await client.post(
        url, data={"key": "k3", "gift": "杯", "points": "1"}, headers={**HX, "x-csrftoken": service}
    )
    assert refused.status_code == 403
