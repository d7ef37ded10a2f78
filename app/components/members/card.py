"""The member card: what it prints, and the member number as a Code 128 barcode and as a QR code."""

from __future__ import annotations

import io
from dataclasses import dataclass

import barcode
import segno
from barcode.writer import SVGWriter

from app.components.core.errors import NotFound
from app.components.members.fields import member_class_label
from app.components.members.queries import member as queries
from app.i18n import _

QR_ERROR = "m"


@dataclass(frozen=True)
class MemberCard:
    """What the printed card shows (no health data, so reading it is not audited)."""

    member_no: str
    name: str
    store: str | None
    member_class: str

    @property
    def member_class_label(self) -> str:
        return member_class_label(self.member_class)


async def member_card(member_no: str) -> MemberCard:
    """The card of a member, or NotFound."""
    r = await queries.card_row(member_no)
    if r is None:
        raise NotFound(_("No member with number %(no)s.") % {"no": member_no})
    return MemberCard(r["member_no"], r["name"], r["store"], r["member_class"] or "member")


def barcode_svg(member_no: str, module_width: float = 0.3, quiet_zone: float = 3.0) -> str:
    """The member number (or any other number we print, e.g. a sale's on its receipt) as a Code 128 barcode, an
    inline <svg> in millimetres (prints at its true size; a 58 mm receipt needs narrower bars)."""
    buffer = io.BytesIO()
    barcode.get("code128", member_no, writer=SVGWriter()).write(
        buffer,
        options={
            "module_width": module_width,
            "module_height": 12.0,
            "quiet_zone": quiet_zone,
            "font_size": 9,
            "text_distance": 4,
        },
    )
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg") :]


def qr_svg(member_no: str) -> str:
    """The member number as a QR code (a full QR, not Micro QR, so phone scanners read it), an inline <svg>."""
    return segno.make_qr(member_no, error=QR_ERROR).svg_inline(scale=1, border=4, omitsize=True)
