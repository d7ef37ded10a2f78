"""What a user reads on the member pages: no stray separator when a part is blank, no code shown as an English word
in the Chinese UI (a vital sign's source, a product's dosage form)."""

from __future__ import annotations

import re

from app.components import health, members
from app.i18n import use_language
from tests.components.stock.test_inventory import _product
from tests.conftest import actor, grant_health_consent, login

HX = {"HX-Request": "true"}


def _meta(html: str) -> str:
    """The member's one-line summary (gender · age · phone …) as text."""
    found = re.search(r'class="member-meta"[^>]*>(.*?)</p>', html, re.S)
    assert found, "no member summary"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


async def test_no_stray_separator_when_the_gender_is_not_stated(client) -> None:
    blank = await members.register(
        members.NewMember(name="未填性别", gender="U", birth_date="1980-01-01", phone="13900002222"), await actor()
    )
    stated = await members.register(members.NewMember(name="填了性别", gender="F"), await actor())
    token = await login(client, "pharmacist")
    profile = _meta((await client.get(f"/members/{blank.member_no}")).text)
    lookup = await client.post("/counter/lookup", data={"code": blank.member_no}, headers={**HX, "x-csrftoken": token})
    panel = _meta(lookup.text)
    for line in (profile, panel):
        assert not line.startswith("·") and "· ·" not in line and not line.endswith("·"), line
        assert "139****2222" in line and "岁" in line
    only_gender = _meta((await client.get(f"/members/{stated.member_no}")).text)
    assert only_gender.startswith("女") and "· ·" not in only_gender


async def test_a_vital_signs_source_is_named_in_the_page_language(client) -> None:
    member = await members.register(members.NewMember(name="测血压"), await actor())
    await grant_health_consent(member.member_no)
    await health.record_vital(
        member.member_no, health.NewVital(kind="bp", systolic="128", diastolic="82"), await actor()
    )
    await login(client, "pharmacist")
    html = (await client.get(f"/members/{member.member_no}/vitals", headers=HX)).text
    source = re.search(r'data-testid="vital-source">([^<]*)<', html).group(1)
    assert source == "王药师 · 柜台" and "· counter" not in html


def test_every_source_and_channel_code_has_a_label() -> None:
    from app.components.consents import records as consents

    with use_language("zh_CN"):
        for code in (*health.VITAL_SOURCES, *consents.CHANNELS, "web"):
            label = consents.channel_label(code)
            assert label != code and not re.search(r"[a-z]{3,}", label), (code, label)


async def test_a_products_dosage_form_is_named_in_the_page_language(client) -> None:
    from app.db import fetch

    product = await _product("阿莫西林胶囊", "Amoxicillin capsules")
    await fetch("UPDATE product SET form = 'capsule', pack_units = 24 WHERE id = {}", product["id"])
    await login(client, "manager")
    html = (await client.get(f"/manager/catalog/{product['sku']}")).text
    assert "24 · 胶囊" in html and "capsule" not in html.replace("capsules", "")
