"""The acting staff member of a request or job, as every domain sees it (who, at which store, in which role)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class StaffUser:
    """The authenticated actor of a request, as components see it."""

    id: int
    username: str
    display_name: str
    role: str
    store_id: int | None
    store_code: str | None
    store_name: str | None
    session_key: str | None = None
    store_phone: str = ""  # the store's phone, for the printouts of what this actor records
    language: str | None = None
    client_addr: str = ""
    channel: str = "web"
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def with_request(self, client_addr: str, channel: str) -> StaffUser:
        """A copy carrying where the request came from (for audit)."""
        return replace(self, client_addr=client_addr, channel=channel)
