"""What a step does, in the step's transaction: queue a message (with a coupon), create a task, issue a coupon.

Each effect carries the step's key, and each receiving domain dedupes on it, so the effect exists at most once even
if the step were somehow run again."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from app.components import care_tasks, coupons, messages
from app.components.care import queries
from app.components.care.definitions import Step
from app.components.core.errors import ValidationFailed
from app.i18n import N_


def _names(product: dict | None) -> dict[str, str] | None:
    if product is None:
        return None
    return {"zh-CN": product["name_zh"], "en": product["name_en"] or product["name_zh"]}


async def _drug(journey: dict[str, Any], enrolment: dict[str, Any]) -> dict[str, str] | None:
    """The medicine a refill reminder or usage note is about (the member's own therapy)."""
    ref = str(enrolment["ref"])
    if journey["trigger"] == "refill_due":
        return _names(await queries.group_product(enrolment["member"], ref.split(":")[0]))
    return None


def refill_due_on(journey: dict[str, Any], enrolment: dict[str, Any]) -> date | None:
    """The first day without medicine of a refill-due enrolment (its ref is "group:last day covered")."""
    if journey["trigger"] != "refill_due":
        return None
    last = date.fromisoformat(str(enrolment["ref"]).split(":")[1])
    return date.fromordinal(last.toordinal() + 1)


async def issue_coupon(template: str, member_id: int, key: str) -> str | None:
    """Issue the step's coupon (idempotent by the step's key); None when the member may not have another."""
    try:
        issued = await coupons.issue(template, member_id, "journey", key, None)
    except ValidationFailed:
        return None
    return issued.code


async def run(
    step: Step, n: int, key: str, journey: dict[str, Any], enrolment: dict[str, Any], now: datetime, extra: dict
) -> tuple[str, str]:
    """Do step `n` for the enrolment; (effect, skip reason — empty when it was done)."""
    member_id, store_id = enrolment["member"], enrolment["store"]
    if step.action == "coupon":
        code = await issue_coupon(step.coupon, member_id, key)
        return (code or "", "" if code else "coupon_unavailable")
    if step.action == "message":
        params: dict[str, Any] = {}
        drug = extra.get("drug") or await _drug(journey, enrolment)
        if drug:
            params["drug"] = drug
        due = refill_due_on(journey, enrolment)
        if due:
            params["date"] = due.isoformat()
        if step.coupon:
            code = await issue_coupon(step.coupon, member_id, key + ":coupon")
            if code:
                params["coupon"] = code
        await messages.queue_member_message(key, member_id, store_id, journey["purpose"], step.template, params, now)
        return key, ""
    task = care_tasks.NewTask(
        key=key,
        member_id=member_id,
        store_id=store_id,
        kind=step.task_kind,
        priority=step.priority,
        role=step.role,
        assignee_id=None,
        due_at=now,
        title=N_("%(journey)s: step %(step)s"),
        params={
            "journey": {"zh-CN": journey["name_zh"], "en": journey["name_en"] or journey["name_zh"]},
            "step": n + 1,
        },
        source={"journey": journey["code"], "version": journey["version"], "step": n, "enrolment": enrolment["id"]},
    )
    task_id = await care_tasks.create_task(task, now)
    return (str(task_id) if task_id else key), ""
