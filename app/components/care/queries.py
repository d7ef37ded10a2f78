"""SQL of the care tables: journey versions, enrolments (set-based INSERT … SELECT), step runs and sweep cursors."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from app.components import adherence
from app.components.care.triggers import Candidates
from app.db import days_after, fetch, for_update, is_sqlite, marks, typed_param

# The hold-out draw: a fixed hash of (member, journey version) → 0…99, so a member is held out of a version or
# not, whatever order or how often the sweep runs. Knuth's multiplicative hash spreads consecutive ids evenly.
HOLDOUT_SQL = "(((c.member * 2654435761) + ({jid} * 40503)) % 100) < {pct}"

_JOURNEY_COLUMNS = (
    "id, code, version, is_current, name_zh, name_en, purpose, trigger, trigger_params, steps, holdout_pct, active,"
    " builtin, created_by, created_at"
)


def _journey(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("trigger_params", "steps"):
        if isinstance(row[key], str):
            row[key] = json.loads(row[key])
    row["active"] = bool(row["active"])
    row["is_current"] = bool(row["is_current"])
    row["builtin"] = bool(row["builtin"])
    return row


async def current_journeys() -> list[dict[str, Any]]:
    """The current version of every journey, by name."""
    rows = await fetch(f"SELECT {_JOURNEY_COLUMNS} FROM journey WHERE is_current ORDER BY builtin DESC, code")
    return [_journey(r) for r in rows]


async def active_journeys(triggers: frozenset[str]) -> list[dict[str, Any]]:
    """The current, switched-on versions whose trigger is one of `triggers`."""
    rows = await fetch(f"SELECT {_JOURNEY_COLUMNS} FROM journey WHERE is_current AND active ORDER BY id")
    return [_journey(r) for r in rows if r["trigger"] in triggers]


async def journey_by_code(code: str) -> dict[str, Any] | None:
    """The current version of journey `code`."""
    rows = await fetch(f"SELECT {_JOURNEY_COLUMNS} FROM journey WHERE code = {{}} AND is_current", code)
    return _journey(rows[0]) if rows else None


async def journeys_by_id(ids: set[int]) -> dict[int, dict[str, Any]]:
    """Journey versions by id (the step runner's enrolments name their own version)."""
    if not ids:
        return {}
    in_list = marks(ids)
    rows = await fetch(f"SELECT {_JOURNEY_COLUMNS} FROM journey WHERE id IN ({in_list})", *sorted(ids))
    return {r["id"]: _journey(r) for r in rows}


async def versions(code: str) -> list[dict[str, Any]]:
    """Every version of journey `code`, newest first."""
    rows = await fetch(f"SELECT {_JOURNEY_COLUMNS} FROM journey WHERE code = {{}} ORDER BY version DESC", code)
    return [_journey(r) for r in rows]


async def lock_code(code: str) -> None:
    """Serialise saving versions of one journey (in the caller's transaction)."""
    if not is_sqlite():
        await fetch("SELECT pg_advisory_xact_lock(727275, hashtext({}))", code)


async def insert_version(values: dict[str, Any], now: datetime) -> int:
    """A new current version of `values['code']` (the previous current version stops being current)."""
    rows = await fetch("SELECT COALESCE(MAX(version), 0) AS v FROM journey WHERE code = {}", values["code"])
    version = int(rows[0]["v"]) + 1
    await fetch("UPDATE journey SET is_current = false WHERE code = {} AND is_current", values["code"])
    rows = await fetch(
        "INSERT INTO journey (code, version, is_current, name_zh, name_en, purpose, trigger, trigger_params, steps,"
        " holdout_pct, active, builtin, created_by, created_at) VALUES ({}, {}, true, {}, {}, {}, {}, {}, {}, {}, {},"
        " {}, {}, {}) RETURNING id",
        values["code"],
        version,
        values["name_zh"],
        values["name_en"],
        values["purpose"],
        values["trigger"],
        json.dumps(values["trigger_params"], ensure_ascii=False),
        json.dumps(values["steps"], ensure_ascii=False),
        values["holdout_pct"],
        values["active"],
        values["builtin"],
        values.get("created_by"),
        now,
    )
    return rows[0]["id"]


async def set_active(code: str, active: bool) -> None:
    """Switch the current version of `code` on or off."""
    await fetch("UPDATE journey SET active = {} WHERE code = {} AND is_current", active, code)


async def exit_journey(code: str, reason: str, now: datetime) -> int:
    """End every running enrolment of every version of `code`; how many."""
    rows = await fetch(
        "UPDATE journey_enrolment SET status = 'exited', exit_reason = {}, ended_at = {}, next_due_on = NULL"
        " WHERE status = 'active' AND journey IN (SELECT id FROM journey WHERE code = {}) RETURNING id",
        reason,
        now,
        code,
    )
    return len(rows)


async def exit_member(member_id: int, reason: str, now: datetime, purposes: tuple[str, ...]) -> int:
    """End the member's running enrolments in journeys of `purposes`; how many."""
    in_list = marks(purposes)
    rows = await fetch(
        "UPDATE journey_enrolment SET status = 'exited', exit_reason = {}, ended_at = {}, next_due_on = NULL"
        " WHERE member = {} AND status = 'active'"
        f" AND journey IN (SELECT id FROM journey WHERE purpose IN ({in_list}))"
        " RETURNING id",
        reason,
        now,
        member_id,
        *purposes,
    )
    return len(rows)


async def enrol(journey: dict[str, Any], candidates: Candidates, now: datetime) -> int:
    """Enrol every candidate not yet enrolled for that occasion, in one INSERT … SELECT; how many were new."""
    first = journey["steps"][0]
    holdout = HOLDOUT_SQL.format(jid=int(journey["id"]), pct=int(journey["holdout_pct"]))
    due = days_after("c.anchor_on", str(int(first["after_days"])))
    sql = (
        "INSERT INTO journey_enrolment (key, journey, member, store, anchor_on, ref, held_out, status, exit_reason,"
        " next_step, next_due_on, next_at, enrolled_at)"
        f" SELECT {typed_param('text')} || ':' || CAST(c.member AS TEXT) || ':' || c.ref, {int(journey['id'])},"
        f" c.member, c.store, c.anchor_on, c.ref, {holdout}, 'active', '', 0, {due}, {typed_param('text')},"
        f" {typed_param('timestamptz')}"
        f" FROM ({candidates.sql}) c WHERE c.anchor_on IS NOT NULL"
        " ON CONFLICT (key) DO NOTHING RETURNING id"
    )
    rows = await fetch(sql, journey["code"], first["at"], now, *candidates.args)
    return len(rows)


async def count(candidates: Candidates) -> int:
    """How many members the candidates are."""
    rows = await fetch(f"SELECT COUNT(DISTINCT c.member) AS n FROM ({candidates.sql}) c", *candidates.args)
    return int(rows[0]["n"])


async def max_member_id() -> int:
    """The highest member id (the sweep's last chunk)."""
    rows = await fetch("SELECT COALESCE(MAX(id), 0) AS n FROM member")
    return int(rows[0]["n"])


async def cursor(name: str) -> tuple[int, bool]:
    """Where the sweep `name` got to: (last member id done, finished)."""
    rows = await fetch("SELECT last_id, done FROM care_cursor WHERE name = {}", name)
    return (int(rows[0]["last_id"]), bool(rows[0]["done"])) if rows else (0, False)


async def move_cursor(name: str, last_id: int, done: bool, now: datetime) -> None:
    """Record the sweep's progress (in the chunk's own transaction, so progress and enrolments commit together)."""
    await fetch(
        "INSERT INTO care_cursor (name, last_id, done, updated_at) VALUES ({}, {}, {}, {})"
        " ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id, done = excluded.done,"
        " updated_at = excluded.updated_at",
        name,
        last_id,
        done,
        now,
    )


async def store_zones() -> list[str]:
    """The time zones the chain's stores are in."""
    return [r["timezone"] for r in await fetch("SELECT DISTINCT timezone FROM store ORDER BY timezone")]


async def due_enrolments(zone: str, chain_zone: str, today: date, hhmm: str, after_id: int, limit: int) -> list[dict]:
    """Active enrolments of stores in `zone` (members without a store: the chain's zone) whose next step is due:
    an earlier day, or today at or after its time."""
    zone_match = "s.timezone = {}" if zone != chain_zone else "(s.timezone = {} OR e.store IS NULL)"
    return await fetch(
        "SELECT e.id, e.key, e.journey, e.member, e.store, e.anchor_on, e.ref, e.held_out, e.next_step, e.next_due_on,"
        " e.enrolled_at"
        " FROM journey_enrolment e LEFT JOIN store s ON s.id = e.store"
        f" WHERE e.status = 'active' AND e.next_due_on IS NOT NULL AND e.id > {{}} AND {zone_match}"
        " AND (e.next_due_on < {} OR (e.next_due_on = {} AND e.next_at <= {}))"
        " ORDER BY e.id LIMIT {}",
        after_id,
        zone,
        today,
        today,
        hhmm,
        limit,
    )


async def lock_enrolment(enrolment_id: int, step: int) -> dict | None:
    """The enrolment, locked, if it is still active at `step` (another runner may have moved it on)."""
    rows = await fetch(
        "SELECT e.id, e.member, e.status, e.next_step, m.merged_into, m.consent_health, m.consent_marketing_sms,"
        " m.consent_marketing_wechat FROM journey_enrolment e JOIN member m ON m.id = e.member"
        f" WHERE e.id = {{}} AND e.status = 'active' AND e.next_step = {{}}{for_update('e')}",
        enrolment_id,
        step,
    )
    return rows[0] if rows else None


async def claim_step(
    key: str, enrolment_id: int, step: int, action: str, status: str, reason: str, now: datetime
) -> bool:
    """Record that the step ran; False when it already had (its unique key: at most one effect, ever)."""
    rows = await fetch(
        "INSERT INTO journey_step_run (key, enrolment, step, action, status, reason, effect, at)"
        " VALUES ({}, {}, {}, {}, {}, {}, '', {}) ON CONFLICT (key) DO NOTHING RETURNING id",
        key,
        enrolment_id,
        step,
        action,
        status,
        reason,
        now,
    )
    return bool(rows)


async def record_effect(key: str, effect: str, status: str | None = None, reason: str | None = None) -> None:
    """What the step made (a message key, a task id, a coupon code), or why it was skipped after all."""
    if status is None:
        await fetch("UPDATE journey_step_run SET effect = {} WHERE key = {}", effect, key)
    else:
        await fetch(
            "UPDATE journey_step_run SET effect = {}, status = {}, reason = {} WHERE key = {}",
            effect,
            status,
            reason,
            key,
        )


async def advance(enrolment_id: int, next_step: int, due_on: date, at: str) -> None:
    """Move the enrolment to its next step."""
    await fetch(
        "UPDATE journey_enrolment SET next_step = {}, next_due_on = {}, next_at = {} WHERE id = {}",
        next_step,
        due_on,
        at,
        enrolment_id,
    )


async def finish(enrolment_id: int, status: str, reason: str, now: datetime) -> None:
    """End the enrolment (completed, or exited with its reason)."""
    await fetch(
        "UPDATE journey_enrolment SET status = {}, exit_reason = {}, ended_at = {}, next_due_on = NULL WHERE id = {}",
        status,
        reason,
        now,
        enrolment_id,
    )


async def bought_since(member_id: int, since: datetime) -> bool:
    """Whether the member bought anything after `since`."""
    rows = await fetch("SELECT 1 AS x FROM sale WHERE member = {} AND created_at > {} LIMIT 1", member_id, since)
    return bool(rows)


async def refilled_since(member_id: int, group: str, since: date) -> bool:
    """Whether the member bought medicine of therapy group `group` on or after `since`."""
    rows = await fetch(
        "SELECT 1 AS x FROM medication WHERE member = {} AND atc LIKE {} AND started_on >= {} LIMIT 1",
        member_id,
        group + "%",
        since,
    )
    return bool(rows)


async def bought_matching_since(member_id: int, since: datetime, match: Candidates) -> bool:
    """Whether the member bought a product matching `match` (a condition on alias p) after `since`."""
    rows = await fetch(
        "SELECT 1 AS x FROM sale s JOIN sale_line l ON l.sale = s.id JOIN product p ON p.id = l.product"
        f" WHERE s.member = {{}} AND s.created_at > {{}} AND {match.sql} LIMIT 1",
        member_id,
        since,
        *match.args,
    )
    return bool(rows)


async def group_product(member_id: int, group: str) -> dict | None:
    """The product the member last bought in therapy group `group` (names for a refill reminder)."""
    rows = await fetch(
        "SELECT p.id, p.name_zh, p.name_en, p.rx_class FROM medication md JOIN product p ON p.id = md.product"
        " WHERE md.member = {} AND md.atc LIKE {} ORDER BY md.started_on DESC, md.id DESC LIMIT 1",
        member_id,
        group + "%",
    )
    return rows[0] if rows else None


async def sale_product(sale_no: str, candidates: Candidates) -> dict | None:
    """The first product of a sale that matched a purchase trigger (`candidates`: a product match on alias p)."""
    rows = await fetch(
        "SELECT p.id, p.name_zh, p.name_en, p.rx_class FROM sale s JOIN sale_line l ON l.sale = s.id"
        f" JOIN product p ON p.id = l.product WHERE s.sale_no = {{}} AND {candidates.sql} ORDER BY l.line_no LIMIT 1",
        sale_no,
        *candidates.args,
    )
    return rows[0] if rows else None


async def pdc_sums(journey_ids: list[int], today: date, start: date, closed: date, prefixes: tuple[str, ...]) -> list:
    """PDC now, treated vs held out, as sums (n, Σ pdc, Σ pdc²) per `held_out` (1/0): each member of an
    enrolment anchored before `closed` counts once (held out if any of theirs was), with the mean PDC of their
    chronic groups that have at least two fill days, by adherence's rule over [start, today]."""
    if not journey_ids:
        return []
    in_list = marks(journey_ids)
    end = int((today - adherence.EPOCH).days)
    groups = adherence.therapy_groups_sql(
        f" AND md.member IN (SELECT member FROM journey_enrolment WHERE journey IN ({in_list}))", prefixes, today
    )
    return await fetch(
        "SELECT h.held_out, COUNT(*) AS n, SUM(p.pdc) AS total, SUM(p.pdc * p.pdc) AS squares FROM"
        f" (SELECT g.member, AVG(g.covered * 100.0 / ({end} - g.first_s + 1)) AS pdc FROM ({groups}) g"
        " WHERE g.fill_dates >= 2 GROUP BY g.member) p"
        " JOIN (SELECT member, MAX(CASE WHEN held_out THEN 1 ELSE 0 END) AS held_out FROM journey_enrolment"
        f" WHERE journey IN ({in_list}) AND anchor_on < {{}} GROUP BY member) h ON h.member = p.member"
        " GROUP BY h.held_out",
        start,
        today,
        *journey_ids,
        *journey_ids,
        closed,
    )


async def step_counts(journey_ids: list[int]) -> list[dict]:
    """Per version and step: runs by status, and messages by delivery status (joined by the step's key)."""
    if not journey_ids:
        return []
    in_list = marks(journey_ids)
    return await fetch(
        "SELECT e.journey, r.step, r.action, r.status, COUNT(*) AS n FROM journey_step_run r"
        f" JOIN journey_enrolment e ON e.id = r.enrolment WHERE e.journey IN ({in_list})"
        " GROUP BY e.journey, r.step, r.action, r.status",
        *journey_ids,
    )


async def message_counts(journey_ids: list[int]) -> list[dict]:
    """Per version and step: the messages the steps queued, by their delivery status."""
    if not journey_ids:
        return []
    in_list = marks(journey_ids)
    return await fetch(
        "SELECT e.journey, r.step, msg.status, COUNT(*) AS n FROM journey_step_run r"
        " JOIN journey_enrolment e ON e.id = r.enrolment JOIN message msg ON msg.key = r.effect"
        f" WHERE e.journey IN ({in_list}) AND r.action = 'message' GROUP BY e.journey, r.step, msg.status",
        *journey_ids,
    )


async def enrolment_counts(journey_ids: list[int]) -> list[dict]:
    """Per version: enrolments by status and hold-out."""
    if not journey_ids:
        return []
    in_list = marks(journey_ids)
    return await fetch(
        "SELECT journey, status, held_out, COUNT(*) AS n FROM journey_enrolment"
        f" WHERE journey IN ({in_list}) GROUP BY journey, status, held_out",
        *journey_ids,
    )


async def outcome_sums(journey_ids: list[int], window_days: int, closed: date, today: date) -> list[dict]:
    """Per `held_out` and whether the enrolment's window has closed (anchored before `closed`), over enrolments
    anchored by `today`: how many, how many bought after enrolling and within `window_days` of the anchor day (the
    purchase that enrolled them does not count), and Σ / Σ² of what they spent in that window (yuan)."""
    if not journey_ids:
        return []
    in_list = marks(journey_ids)
    end = days_after("e.anchor_on", str(int(window_days) + 1))
    per_enrolment = (
        "SELECT e.id, e.held_out, CASE WHEN e.anchor_on < {} THEN 1 ELSE 0 END AS closed,"
        " COALESCE(SUM(s.total), 0) AS spent, COUNT(s.id) AS sales"
        " FROM journey_enrolment e LEFT JOIN sale s ON s.member = e.member"
        f" AND s.created_at > e.enrolled_at AND s.created_at < {end}"
        f" WHERE e.journey IN ({in_list}) AND e.anchor_on <= {{}} GROUP BY e.id, e.held_out, e.anchor_on"
    )
    return await fetch(
        "SELECT o.held_out, o.closed, COUNT(*) AS n,"
        " SUM(CASE WHEN o.sales > 0 THEN 1 ELSE 0 END) AS bought, SUM(o.spent * 0.01) AS total,"
        f" SUM(o.spent * 0.01 * o.spent * 0.01) AS squares FROM ({per_enrolment}) o"
        " GROUP BY o.held_out, o.closed",
        closed,
        *journey_ids,
        today,
    )
