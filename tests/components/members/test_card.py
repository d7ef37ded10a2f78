"""The member card: its barcode and QR code encode the member number."""

from __future__ import annotations

from app.components import members


def test_card_codes_encode_the_member_number() -> None:
    number = members.member_no_for(42)
    svg = members.barcode_svg(number)
    assert svg.startswith("<svg") and f">{number}</text>" in svg
    qr = members.qr_svg(number)
    assert qr.startswith("<svg") and "viewBox" in qr
