"""Photos of prescriptions taken at the counter: checked, stored under the data directory per store, served to the
store only."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from app.components.core.actor import StaffUser
from app.components.core.errors import NotFound, ValidationFailed
from app.components.sales.cart import store_of
from app.i18n import _
from app.settings import get_settings

RX_IMAGE_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


RX_IMAGE_MAX_BYTES = 8 * 1024 * 1024


_RX_NAME = re.compile(r"[0-9a-f]{32}\.(jpg|png|webp)")


def _rx_dir(store_id: int) -> Path:
    return get_settings().data_dir / "uploads" / "rx" / str(store_id)


def check_rx_image(data: bytes, content_type: str) -> str:
    """The file suffix for an acceptable prescription photo, else ValidationFailed on "rx_image"."""
    suffix = RX_IMAGE_TYPES.get((content_type or "").split(";")[0].strip().lower())
    if suffix is None:
        raise ValidationFailed({"rx_image": _("The prescription image must be a JPEG, PNG or WebP photo.")})
    if not data:
        raise ValidationFailed({"rx_image": _("The prescription image is empty.")})
    if len(data) > RX_IMAGE_MAX_BYTES:
        raise ValidationFailed({"rx_image": _("The prescription image is larger than 8 MB.")})
    return suffix


def save_rx_image(actor: StaffUser, data: bytes, content_type: str) -> str:
    """Store a photo of a prescription under the data directory; returns its name (served to the store only)."""
    suffix = check_rx_image(data, content_type)
    folder = _rx_dir(store_of(actor))
    folder.mkdir(parents=True, exist_ok=True)
    name = uuid.uuid4().hex + suffix
    (folder / name).write_bytes(data)
    return name


def rx_image_path(actor: StaffUser, name: str) -> Path:
    """The file of a prescription image of the actor's own store, or NotFound."""
    path = _rx_dir(store_of(actor)) / name
    if not _RX_NAME.fullmatch(name) or not path.is_file():
        raise NotFound(_("No prescription image %(name)s in this store.") % {"name": name})
    return path
