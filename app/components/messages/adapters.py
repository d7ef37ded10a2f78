"""Channel adapters: deliver one rendered message, with its key as the idempotency key.

- `log` (the default): appends one JSON line to a file under the data directory, never the same key twice;
- `sms`: a generic HTTP SMS gateway (URL, Authorization header, body template from the settings);
- `wecom`, `dingtalk`: a store's group-robot webhook (text message).
Every HTTP request carries `Idempotency-Key: <message key>`, so a resend after a crash is not a second SMS at a
gateway that honours it. A `DeliveryError` says whether trying again may help.
"""

from __future__ import annotations

import fcntl
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from string import Template

import httpx

TIMEOUT = httpx.Timeout(10.0)


class DeliveryError(Exception):
    """The channel refused or failed; `permanent` when a retry cannot help (a 4xx other than 408/429)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Outgoing:
    """What an adapter delivers: the key, where to (a phone, or none for a robot), the text."""

    key: str
    channel: str
    text: str
    phone: str | None = None
    member_id: int | None = None
    store_id: int | None = None
    template: str = ""


def log_keys(path: Path) -> set[str]:
    """The keys already written to the log file."""
    if not path.exists():
        return set()
    keys = set()
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                keys.add(json.loads(line)["key"])
            except (ValueError, KeyError, TypeError):
                continue
    return keys


def deliver_log(path: Path, message: Outgoing, now: datetime) -> bool:
    """Append the message to the log file unless its key is there already; True when written. The file is
    locked while read and appended, so two workers never both write one key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.seek(0)
            for line in fh:
                try:
                    if json.loads(line).get("key") == message.key:
                        return False
                except ValueError:
                    continue
            record = {
                "key": message.key,
                "at": now.isoformat(),
                "channel": message.channel,
                "template": message.template,
                "member": message.member_id,
                "store": message.store_id,
                "text": message.text,
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
            return True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 300:
        return
    permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
    raise DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}", permanent=permanent)


def sms_body(template: str, message: Outgoing) -> str:
    """The gateway's request body: `$phone`, `$text`, `$key` substituted, each JSON-escaped (without quotes)."""

    def esc(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)[1:-1]

    return Template(template).safe_substitute(
        phone=esc(message.phone or ""), text=esc(message.text), key=esc(message.key)
    )


async def deliver_sms(url: str, auth: str, body_template: str, message: Outgoing) -> None:
    """POST the message to the SMS gateway; a non-2xx answer is a DeliveryError."""
    if not message.phone:
        raise DeliveryError("no phone number", permanent=True)
    headers = {"Content-Type": "application/json", "Idempotency-Key": message.key}
    if auth:
        headers["Authorization"] = auth
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            response = await client.post(url, content=sms_body(body_template, message).encode(), headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    _raise_for(response)


async def deliver_robot(url: str, message: Outgoing) -> None:
    """POST a text message to a WeCom or DingTalk group robot; both answer {"errcode": 0} when accepted."""
    payload = {"msgtype": "text", "text": {"content": message.text}}
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            response = await client.post(url, json=payload, headers={"Idempotency-Key": message.key})
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    _raise_for(response)
    try:
        answer = response.json()
    except ValueError as exc:
        raise DeliveryError(f"not JSON: {response.text[:200]}") from exc
    if isinstance(answer, dict) and answer.get("errcode", 0) != 0:
        raise DeliveryError(f"errcode {answer.get('errcode')}: {answer.get('errmsg', '')}"[:300])
