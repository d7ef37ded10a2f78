"""Points and tiers: configurable earning rules, the append-only points ledger, expiry (FIFO), tier upgrades."""

from __future__ import annotations

import calendar
import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from app.components import audit, coupons
from app.components.core.actor import StaffUser
from app.components.core.clock import store_today
from app.components.core.errors import ValidationFailed
from app.db import fetch, marks, transaction
from app.i18n import _

TIERS = ("regular", "silver", "gold", "diamond")
RULES_SETTING = "rules"
RULES_CHANGE = "loyalty.rules_change"
GIFT_REDEEM = "loyalty.gift"
# Entries that add points carry the last day they count (a lot); outflows (redeem, expire, gift) carry none.
LOT_KINDS = ("earn", "restore", "reverse")
OUTFLOW_KINDS = ("redeem", "expire", "gift")


def tier_label(tier: str) -> str:
    """A tier's name in the current language."""
    return {
        "regular": _("Regular"),
        "silver": _("Silver"),
        "gold": _("Gold"),
        "diamond": _("Diamond"),
    }.get(tier, tier)


def kind_label(kind: str) -> str:
    """A ledger entry kind in the current language."""
    return {
        "earn": _("Earned"),
        "redeem": _("Redeemed"),
        "expire": _("Expired"),
        "reverse": _("Reversed (return)"),
        "restore": _("Restored (return)"),
        "adjust": _("Adjusted"),
        "gift": _("Gift"),
    }.get(kind, kind)


# ---------------------------------------------------------------- rules


@dataclass(frozen=True)
class LoyaltyRules:
    """The earning, redemption and tier rules. Multipliers are whole percent (120 = ×1.2) so sums stay exact."""

    points_per_yuan: int = 1
    exclude_rx: bool = False
    member_day: int = 8  # day of the month; 0 = no member day
    member_day_pct: int = 200
    redeem_points_per_yuan: int = 100
    silver_fen: int = 200_000
    gold_fen: int = 500_000
    diamond_fen: int = 1_000_000
    silver_pct: int = 120
    gold_pct: int = 150
    diamond_pct: int = 200
    review_month: int = 1
    review_day: int = 1

    def tier_pct(self, tier: str) -> int:
        """The tier's multiplier in percent."""
        return {"silver": self.silver_pct, "gold": self.gold_pct, "diamond": self.diamond_pct}.get(tier, 100)

    def tier_for_spend(self, spend_fen: int) -> str:
        """The tier a rolling 12-month spend reaches."""
        if spend_fen >= self.diamond_fen:
            return "diamond"
        if spend_fen >= self.gold_fen:
            return "gold"
        if spend_fen >= self.silver_fen:
            return "silver"
        return "regular"

    def last_review(self, today: date) -> date:
        """The most recent review date on or before `today`."""
        this_year = _safe_date(today.year, self.review_month, self.review_day)
        return this_year if this_year <= today else _safe_date(today.year - 1, self.review_month, self.review_day)


DEFAULT_RULES = LoyaltyRules()


def _safe_date(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


async def rules() -> LoyaltyRules:
    """The configured rules (defaults for anything not configured)."""
    rows = await fetch("SELECT value FROM loyalty_setting WHERE name = {}", RULES_SETTING)
    return rules_from(rows[0]["value"] if rows else None)


def rules_from(raw: Any) -> LoyaltyRules:
    """The rules from the stored setting's value (None: not configured), e.g. read by a caller's own query."""
    if raw is None:
        return DEFAULT_RULES
    stored = json.loads(raw) if isinstance(raw, str) else (raw or {})
    known = {f.name for f in fields(LoyaltyRules)}
    return LoyaltyRules(**{k: v for k, v in stored.items() if k in known})


def _parse_multiplier(raw: str) -> int | None:
    """'1.2' or '×1.2' → 120 percent; None when not a number between 1 and 10 with at most two decimals."""
    text = (raw or "").strip().lstrip("×xX")
    try:
        pct = round(float(text) * 100)
    except ValueError:
        return None
    if abs(float(text) * 100 - pct) > 1e-6 or not 100 <= pct <= 1000:
        return None
    return pct


def _parse_yuan(raw: str) -> int | None:
    text = (raw or "").strip().lstrip("¥").replace(",", "")
    try:
        value = float(text)
    except ValueError:
        return None
    fen = round(value * 100)
    if value < 0 or abs(value * 100 - fen) > 1e-6:
        return None
    return fen


def multiplier_text(pct: int) -> str:
    """120 → '1.2' (as the form shows it)."""
    return f"{pct / 100:g}"


def _yuan_text(fen: int) -> str:
    """200000 → '2000', 200050 → '2000.50': the form shows a threshold exactly as it was saved."""
    return str(fen // 100) if fen % 100 == 0 else f"{fen // 100}.{fen % 100:02d}"


def rules_form(r: LoyaltyRules) -> dict[str, str]:
    """The rules as the manager form shows them (yuan and ×multipliers)."""
    return {
        "points_per_yuan": str(r.points_per_yuan),
        "exclude_rx": "1" if r.exclude_rx else "",
        "member_day": str(r.member_day),
        "member_day_multiplier": multiplier_text(r.member_day_pct),
        "redeem_points_per_yuan": str(r.redeem_points_per_yuan),
        "silver_yuan": _yuan_text(r.silver_fen),
        "gold_yuan": _yuan_text(r.gold_fen),
        "diamond_yuan": _yuan_text(r.diamond_fen),
        "silver_multiplier": multiplier_text(r.silver_pct),
        "gold_multiplier": multiplier_text(r.gold_pct),
        "diamond_multiplier": multiplier_text(r.diamond_pct),
        "review_month": str(r.review_month),
        "review_day": str(r.review_day),
    }


def parse_rules(form: dict[str, str]) -> LoyaltyRules:
    """Validate the manager form; ValidationFailed with one message per bad field."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}

    def whole(name: str, low: int, high: int) -> int | None:
        text = (form.get(name) or "").strip()
        if not text.isdigit() or not low <= int(text) <= high:
            errors[name] = _("Enter a whole number from %(low)s to %(high)s.") % {"low": low, "high": high}
            return None
        return int(text)

    values["points_per_yuan"] = whole("points_per_yuan", 0, 100)
    values["exclude_rx"] = (form.get("exclude_rx") or "") in ("1", "on", "true", "yes")
    values["member_day"] = whole("member_day", 0, 28)
    values["redeem_points_per_yuan"] = whole("redeem_points_per_yuan", 1, 10_000)
    values["review_month"] = whole("review_month", 1, 12)
    values["review_day"] = whole("review_day", 1, 28)
    for name, key in (
        ("member_day_multiplier", "member_day_pct"),
        ("silver_multiplier", "silver_pct"),
        ("gold_multiplier", "gold_pct"),
        ("diamond_multiplier", "diamond_pct"),
    ):
        pct = _parse_multiplier(form.get(name, ""))
        if pct is None:
            errors[name] = _("Enter a multiplier from 1 to 10, e.g. 1.5.")
        values[key] = pct
    for name, key in (("silver_yuan", "silver_fen"), ("gold_yuan", "gold_fen"), ("diamond_yuan", "diamond_fen")):
        fen = _parse_yuan(form.get(name, ""))
        if fen is None:
            errors[name] = _("Enter an amount in yuan, e.g. 2000.")
        values[key] = fen
    fens = [values["silver_fen"], values["gold_fen"], values["diamond_fen"]]
    if None not in fens and not fens[0] < fens[1] < fens[2]:
        errors["gold_yuan"] = _("Thresholds must rise: silver below gold below diamond.")
    pcts = [values["silver_pct"], values["gold_pct"], values["diamond_pct"]]
    if None not in pcts and not pcts[0] <= pcts[1] <= pcts[2]:
        errors["gold_multiplier"] = _("Multipliers must not fall from silver to gold to diamond.")
    rate = values["redeem_points_per_yuan"]
    if rate and 100 % rate and rate % 100:
        # A point must be worth whole fen, or a fen a whole number of points, so tenders stay exact.
        errors["redeem_points_per_yuan"] = _("Use a divisor or a multiple of 100 (e.g. 50, 100, 200).")
    if errors:
        raise ValidationFailed(errors)
    return LoyaltyRules(**values)


async def save_rules(new: LoyaltyRules, actor: StaffUser) -> list[str]:
    """Store the rules (audited with the fields that changed); return the changed field names."""
    async with transaction():
        old = await rules()
        changed = [f.name for f in fields(LoyaltyRules) if getattr(old, f.name) != getattr(new, f.name)]
        if not changed:
            return []
        now = datetime.now(UTC)
        value = json.dumps(asdict(new))
        await fetch(
            "INSERT INTO loyalty_setting (name, value, updated_at, updated_by) VALUES ({}, {}, {}, {})"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,"
            " updated_by = excluded.updated_by",
            RULES_SETTING,
            value,
            now,
            actor.id,
        )
        detail = "; ".join(f"{n}: {getattr(old, n)} → {getattr(new, n)}" for n in changed)
        await audit.record(actor, RULES_CHANGE, None, detail)
    return changed


# ---------------------------------------------------------------- pure helpers


def points_for(amount_fen: int, r: LoyaltyRules, tier: str, on_date: date) -> int:
    """Points for an eligible amount: rate × member-day × tier multipliers, multiplied together, rounded down."""
    if amount_fen <= 0:
        return 0
    day_pct = r.member_day_pct if r.member_day and on_date.day == r.member_day else 100
    # fen × points/yuan × pct × pct, over 100 (fen per yuan) × 100 × 100 — integers only, so no float drift.
    return amount_fen * r.points_per_yuan * day_pct * r.tier_pct(tier) // 1_000_000


@dataclass(frozen=True)
class EligibleLine:
    """What `eligible_amount` needs of a sale line: its amount after discounts and coupons, and its flags."""

    amount_fen: int
    rx: bool = False
    points_excluded: bool = False


def eligible_amount(lines: list[EligibleLine], r: LoyaltyRules = DEFAULT_RULES) -> int:
    """The amount that earns points: excluded products never, Rx items only when the rules allow."""
    return sum(max(0, line.amount_fen) for line in lines if not line.points_excluded and not (r.exclude_rx and line.rx))


def expiry_for(earned_on: date) -> date:
    """The last day points earned on `earned_on` count: the end of the 12th month after that month."""
    year, month = earned_on.year + 1, earned_on.month
    return date(year, month, calendar.monthrange(year, month)[1])


def redeem_value(points: int, r: LoyaltyRules) -> int:
    """Fen a number of points pays (rounded down)."""
    return points * 100 // r.redeem_points_per_yuan


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def fifo_remaining(lots: list[tuple[date, int]], outflow: int) -> list[tuple[date, int]]:
    """What is left of each lot (date ascending) after `outflow` points were taken, oldest lot first."""
    left = []
    for on, points in sorted(lots):
        take = min(max(points, 0), outflow)
        outflow -= take
        if points - take > 0:
            left.append((on, points - take))
    return left


# ---------------------------------------------------------------- the ledger


async def _lock(member_id: int, today: date, spend_since: datetime | None = None) -> dict:
    """The member's loyalty row (created if missing), locked until the transaction ends, in one statement: on
    PostgreSQL the upsert's DO UPDATE takes the row lock; SQLite's IMMEDIATE transaction serialises anyway.

    With `spend_since`, the row also carries `spend`: sales minus returns of the member since then, in fen."""
    spend = (
        ", (SELECT COALESCE(SUM(s.total), 0) FROM sale s WHERE s.member = {} AND s.created_at >= {})"
        " - (SELECT COALESCE(SUM(r.amount), 0) FROM sale_return r JOIN sale s ON s.id = r.sale"
        " WHERE s.member = {} AND r.created_at >= {}) AS spend"
        if spend_since is not None
        else ""
    )
    # reviewed_on = joining day: the first yearly review comes after it.
    rows = await fetch(
        "INSERT INTO member_loyalty (member, tier, tier_since, reviewed_on, balance) VALUES ({}, 'regular', {}, {}, 0)"
        f" ON CONFLICT (member) DO UPDATE SET member = excluded.member RETURNING tier, balance{spend}",
        member_id,
        today,
        today,
        *((member_id, spend_since, member_id, spend_since) if spend_since is not None else ()),
    )
    return rows[0]


async def _ledger_sum(member_id: int) -> int:
    rows = await fetch("SELECT COALESCE(SUM(points), 0) AS s FROM points_entry WHERE member = {}", member_id)
    return int(rows[0]["s"])


async def _write(
    member_id: int,
    kind: str,
    points: int,
    ref: str,
    key: str,
    expires_on: date | None,
    store_id: int | None,
    actor: StaffUser | None,
    move_balance: bool = True,
) -> bool:
    """Append one entry and move the cached balance with it (unless the caller does, `move_balance=False`);
    False when the key was already there."""
    rows = await fetch(
        "INSERT INTO points_entry (member, kind, points, ref, key, expires_on, store, staff, at)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}) ON CONFLICT (key) DO NOTHING RETURNING id",
        member_id,
        kind,
        points,
        ref[:40],
        key,
        expires_on,
        store_id,
        actor.id if actor else None,
        datetime.now(UTC),
    )
    if not rows:
        return False
    if move_balance:
        await fetch("UPDATE member_loyalty SET balance = balance + {} WHERE member = {}", points, member_id)
    return True


async def _entry(key: str) -> dict | None:
    rows = await fetch("SELECT points, expires_on FROM points_entry WHERE key = {}", key)
    return rows[0] if rows else None


async def earn(
    member_id: int,
    sale_no: str,
    eligible_fen: int,
    on_date: date,
    store_id: int | None,
    actor: StaffUser | None,
    known_rules: LoyaltyRules | None = None,
) -> int:
    """(in txn) Credit the points of a sale (key earn:{sale_no}, idempotent); upgrade the tier first if the rolling
    12-month spend (this sale included: call it after writing the sale) reaches a higher one. Returns the points.

    `known_rules`: the rules the sale was quoted with (read here when not given). Three statements: the locked
    loyalty row with the rolling spend, the entry, and the balance (with the tier) in one update."""
    r = known_rules or await rules()
    row = await _lock(member_id, on_date, spend_since=datetime.now(UTC) - timedelta(days=365))
    tier = row["tier"]
    reached = r.tier_for_spend(int(row["spend"] or 0))
    upgraded = TIERS.index(reached) > TIERS.index(tier)
    if upgraded:
        tier = reached  # upgrades apply at once, to this sale too; downgrades wait for the yearly review
    key = f"earn:{sale_no}"
    points = points_for(eligible_fen, r, tier, on_date)
    written = points > 0 and await _write(
        member_id, "earn", points, sale_no, key, expiry_for(on_date), store_id, actor, move_balance=False
    )
    if not written:  # a retry of the same sale (even one the rules now give no points): its entry stands
        existing = await _entry(key)
        points = int(existing["points"]) if existing else 0
    if upgraded or written:
        # The CASE reads the row's old tier: tier_since moves only when the tier does.
        await fetch(
            "UPDATE member_loyalty SET balance = balance + {}, tier_since = CASE WHEN tier = {} THEN tier_since"
            " ELSE {} END, tier = {} WHERE member = {}",
            points if written else 0,
            tier,
            on_date,
            tier,
            member_id,
        )
    return points


async def redeem(member_id: int, points: int, sale_no: str, store_id: int | None, actor: StaffUser | None) -> int:
    """(in txn) Spend points as a tender on a sale (key redeem:{sale_no}); returns the fen they pay.

    Concurrency-safe: the member's loyalty row is locked before the balance is read, so two counters spending
    the same points cannot both succeed.
    """
    return await _spend(member_id, points, "redeem", sale_no, f"redeem:{sale_no}", store_id, actor)


async def redeem_gift(member_id: int, points: int, gift_name: str, key: str, actor: StaffUser | None) -> int:
    """Exchange points for a gift (idempotent by `key`); returns the points taken."""
    gift_name = (gift_name or "").strip()
    if not gift_name or len(gift_name) > 40:
        raise ValidationFailed({"gift": _("Name the gift (at most 40 characters).")})
    async with transaction():
        await _spend(member_id, points, "gift", gift_name, f"gift:{key}", actor.store_id if actor else None, actor)
        if actor is not None:
            await audit.record(actor, GIFT_REDEEM, member_id, f"{gift_name}: {points}")
    return points


async def _spend(
    member_id: int, points: int, kind: str, ref: str, key: str, store_id: int | None, actor: StaffUser | None
) -> int:
    r = await rules()
    if points <= 0:
        raise ValidationFailed({"points": _("Enter a number of points above zero.")})
    if kind == "redeem" and (points * 100) % r.redeem_points_per_yuan:
        raise ValidationFailed(
            {"points": _("Redeem points in steps of %(n)s.") % {"n": r.redeem_points_per_yuan // 100 or 1}}
        )
    await _lock(member_id, _today())
    existing = await _entry(key)
    if existing is not None:  # a retry of the same sale or gift
        return redeem_value(-int(existing["points"]), r) if kind == "redeem" else -int(existing["points"])
    available = await _ledger_sum(member_id)
    if points > available:
        raise ValidationFailed(
            {"points": _("Only %(n)s points are available.") % {"n": available}},
        )
    await _write(member_id, kind, -points, ref, key, None, store_id, actor)
    return redeem_value(points, r) if kind == "redeem" else points


async def reverse_for_return(
    member_id: int,
    sale_no: str,
    return_no: str,
    earned_points_to_reverse: int,
    redeemed_points_to_restore: int,
    store_id: int | None,
    actor: StaffUser | None,
) -> tuple[int, int]:
    """(in txn) Give back points redeemed on the returned part (a new lot as if earned today) and take back points
    earned on it (against the sale's own lot), never below a zero balance: the shortfall is not reversed.
    Idempotent by return_no. Returns (reversed, restored)."""
    today = _today()
    await _lock(member_id, today)
    done_reverse = await _entry(f"reverse:{return_no}")
    done_restore = await _entry(f"restore:{return_no}")
    if done_reverse is not None or done_restore is not None:
        return (
            -int(done_reverse["points"]) if done_reverse else 0,
            int(done_restore["points"]) if done_restore else 0,
        )
    sums = await fetch(
        "SELECT"
        " COALESCE(SUM(CASE WHEN kind = 'redeem' AND key = {} THEN -points ELSE 0 END), 0) AS redeemed,"
        " COALESCE(SUM(CASE WHEN kind = 'restore' THEN points ELSE 0 END), 0) AS restored,"
        " COALESCE(SUM(CASE WHEN kind = 'earn' THEN points ELSE 0 END), 0) AS earned,"
        " COALESCE(SUM(CASE WHEN kind = 'reverse' THEN -points ELSE 0 END), 0) AS reversed"
        " FROM points_entry WHERE member = {} AND ref = {} AND kind IN ('earn', 'redeem', 'restore', 'reverse')",
        f"redeem:{sale_no}",
        member_id,
        sale_no,
    )
    s = sums[0]
    restore = max(0, min(redeemed_points_to_restore, int(s["redeemed"]) - int(s["restored"])))
    if restore:
        await _write(member_id, "restore", restore, sale_no, f"restore:{return_no}", expiry_for(today), store_id, actor)
    earn_entry = await _entry(f"earn:{sale_no}")
    balance = await _ledger_sum(member_id)
    reverse = max(0, min(earned_points_to_reverse, int(s["earned"]) - int(s["reversed"]), balance))
    if reverse and earn_entry is not None:
        await _write(
            member_id,
            "reverse",
            -reverse,
            sale_no,
            f"reverse:{return_no}",
            _as_date(earn_entry["expires_on"]),
            store_id,
            actor,
        )
    return reverse, restore


def _today() -> date:

    return store_today()


async def balance(member_id: int) -> int:
    """The member's points: the sum of the ledger."""
    return await _ledger_sum(member_id)


async def tier_of(member_id: int) -> str:
    """The member's tier (regular when never recorded)."""
    rows = await fetch("SELECT tier FROM member_loyalty WHERE member = {}", member_id)
    return rows[0]["tier"] if rows else "regular"


async def refresh_cache(member_ids: list[int]) -> None:
    """Recompute the cached balance of a few members from their ledgers (after a merge moved entries)."""
    if not member_ids:
        return
    today = _today()
    for member_id in member_ids:  # the survivor and the merged record of one merge
        await _lock(member_id, today)
    in_list = marks(member_ids)
    await fetch(
        "UPDATE member_loyalty SET balance = (SELECT COALESCE(SUM(p.points), 0) FROM points_entry p"
        f" WHERE p.member = member_loyalty.member) WHERE member IN ({in_list})",
        *member_ids,
    )


async def check_balances() -> list[dict]:
    """Members whose cached balance differs from the sum of their ledger (should be none)."""
    return await fetch(
        "SELECT COALESCE(ml.member, l.member) AS member, COALESCE(ml.balance, 0) AS cached,"
        " COALESCE(l.total, 0) AS ledger"
        " FROM member_loyalty ml FULL OUTER JOIN"
        " (SELECT member, SUM(points) AS total FROM points_entry GROUP BY member) l ON l.member = ml.member"
        " WHERE COALESCE(ml.balance, 0) <> COALESCE(l.total, 0)"
    )


# ---------------------------------------------------------------- statement


@dataclass(frozen=True)
class PointsStatement:
    """What a member sees: balance, tier, ledger entries (newest first, one page) and what expires when."""

    balance: int
    tier: str
    entries: list[dict]
    expiring: list[tuple[date, int]]
    page: int = 1
    per_page: int = 50
    has_next: bool = False
    spend_fen: int = 0

    @property
    def tier_label(self) -> str:
        return tier_label(self.tier)

    @property
    def expiring_soon(self) -> tuple[date, int] | None:
        """The next lot to expire."""
        return self.expiring[0] if self.expiring else None

    def as_json(self) -> dict:
        """The API body."""
        return {
            "balance": self.balance,
            "tier": self.tier,
            "page": self.page,
            "per_page": self.per_page,
            "has_next": self.has_next,
            "entries": [
                {
                    "at": e["at"].isoformat() if isinstance(e["at"], datetime) else str(e["at"]),
                    "kind": e["kind"],
                    "points": e["points"],
                    "ref": e["ref"],
                    "expires_on": e["expires_on"].isoformat() if e["expires_on"] else None,
                }
                for e in self.entries
            ],
            "expiring": [{"date": d.isoformat(), "points": p} for d, p in self.expiring],
        }


async def expiring(member_id: int, today: date | None = None) -> list[tuple[date, int]]:
    """(last valid day, points) still to expire, soonest first — the same FIFO the expiry job applies."""
    today = today or _today()
    rows = await fetch(
        "SELECT expires_on, SUM(points) AS points FROM points_entry WHERE member = {} AND expires_on IS NOT NULL"
        " GROUP BY expires_on",
        member_id,
    )
    out = await fetch(
        "SELECT COALESCE(SUM(-points), 0) AS o FROM points_entry WHERE member = {} AND expires_on IS NULL", member_id
    )
    lots = [(_as_date(r["expires_on"]), int(r["points"])) for r in rows]
    return [(d, p) for d, p in fifo_remaining(lots, int(out[0]["o"])) if d >= today]


async def statement(member_id: int, page: int = 1, per_page: int = 50, today: date | None = None) -> PointsStatement:
    """The member's points statement."""
    page, per_page = max(1, page), max(1, min(per_page, 200))
    rows = await fetch(
        "SELECT at, kind, points, ref, expires_on FROM points_entry WHERE member = {}"
        f" ORDER BY at DESC, id DESC LIMIT {per_page + 1} OFFSET {(page - 1) * per_page}",
        member_id,
    )
    entries = [{**r, "expires_on": _as_date(r["expires_on"]), "label": kind_label(r["kind"])} for r in rows[:per_page]]
    return PointsStatement(
        balance=await balance(member_id),
        tier=await tier_of(member_id),
        entries=entries,
        expiring=await expiring(member_id, today),
        page=page,
        per_page=per_page,
        has_next=len(rows) > per_page,
    )


@dataclass(frozen=True)
class Wallet:
    """The counter's view of a member's loyalty: points, tier, what expires soon and usable coupons."""

    balance: int
    tier: str
    expiring: list[tuple[date, int]]
    coupons: list[Any] = field(default_factory=list)
    redeem_points_per_yuan: int = 100

    @property
    def tier_label(self) -> str:
        return tier_label(self.tier)

    @property
    def balance_fen(self) -> int:
        """What the whole balance would pay."""
        return self.balance * 100 // self.redeem_points_per_yuan


async def wallet(member_id: int, today: date | None = None, soon_days: int = 90) -> Wallet:
    """Points, tier, lots expiring within `soon_days` and usable coupons, for templates/counter/_wallet.html."""

    today = today or _today()
    # One round trip for the rules, the tier and the ledger by expiry day (the scan of every selling counter
    # shows the wallet): the balance is the sum of all groups, the outflow the undated group's negative sum,
    # exactly as `balance` and `expiring` compute them.
    rows = await fetch(
        "SELECT (SELECT ls.value FROM loyalty_setting ls WHERE ls.name = {}) AS rules,"
        " (SELECT ml.tier FROM member_loyalty ml WHERE ml.member = {}) AS tier, g.expires_on, g.points"
        " FROM (SELECT 1 AS one) base LEFT JOIN (SELECT expires_on, SUM(points) AS points FROM points_entry"
        " WHERE member = {} GROUP BY expires_on) g ON 1 = 1",
        RULES_SETTING,
        member_id,
        member_id,
    )
    r = rules_from(rows[0]["rules"])
    groups = [(_as_date(row["expires_on"]), int(row["points"])) for row in rows if row["points"] is not None]
    outflow = -sum(p for d, p in groups if d is None)
    lots = [(d, p) for d, p in fifo_remaining([g for g in groups if g[0] is not None], outflow) if d >= today]
    return Wallet(
        balance=sum(p for _, p in groups),
        tier=rows[0]["tier"] or "regular",
        expiring=[(d, p) for d, p in lots if d <= today + timedelta(days=soon_days)],
        coupons=await coupons.wallet(member_id, today),
        redeem_points_per_yuan=r.redeem_points_per_yuan,
    )


# ---------------------------------------------------------------- set-based jobs


async def expire_points(today: date | None = None) -> int:
    """Expire, for every member at once, the points of lots past their last day not already used (FIFO).

    Amount per member = max(0, lots expired before today (net of their reversals) − every outflow so far,
    earlier expiries included), one entry keyed expire:{member}:{today}: running twice changes nothing.
    Returns how many members lost points.
    """
    today = today or _today()
    stamp = today.isoformat()
    async with transaction():
        inserted = await fetch(
            "INSERT INTO points_entry (member, kind, points, ref, key, expires_on, store, staff, at)"
            " SELECT t.member, 'expire', -t.amount, {}, 'expire:' || CAST(t.member AS VARCHAR(20)) || ':' || {},"
            " NULL, NULL, NULL, {} FROM ("
            "  SELECT member,"
            "   SUM(CASE WHEN expires_on IS NOT NULL AND expires_on < {} THEN points ELSE 0 END)"
            "   + SUM(CASE WHEN expires_on IS NULL THEN points ELSE 0 END) AS amount"
            "  FROM points_entry"
            "  WHERE member IN (SELECT DISTINCT member FROM points_entry WHERE expires_on < {})"
            "  GROUP BY member) t"
            " WHERE t.amount > 0"
            " ON CONFLICT (key) DO NOTHING RETURNING member",
            stamp,
            stamp,
            datetime.now(UTC),
            today,
            today,
        )
        if inserted:
            await _refresh_cache_for_expiry(stamp)
    return len(inserted)


async def _refresh_cache_for_expiry(stamp: str) -> None:
    await fetch(
        "INSERT INTO member_loyalty (member, tier, balance) SELECT DISTINCT member, 'regular', 0 FROM points_entry"
        " WHERE kind = 'expire' AND ref = {} ON CONFLICT (member) DO NOTHING",
        stamp,
    )
    await fetch(
        "UPDATE member_loyalty SET balance = (SELECT COALESCE(SUM(p.points), 0) FROM points_entry p"
        " WHERE p.member = member_loyalty.member)"
        " WHERE member IN (SELECT member FROM points_entry WHERE kind = 'expire' AND ref = {})",
        stamp,
    )


async def review_tiers(today: date | None = None, now: datetime | None = None) -> int:
    """The yearly review (set-based): every member not reviewed since the last review date gets the tier their
    rolling 12-month spend reaches (downgrades included). Idempotent; a missed run catches up. Returns how many
    members changed tier."""
    today = today or _today()
    r = await rules()
    due = r.last_review(today)
    since = (now or datetime.now(UTC)) - timedelta(days=365)
    tier_case = (
        "CASE WHEN COALESCE(sp.spend, 0) >= {} THEN 'diamond' WHEN COALESCE(sp.spend, 0) >= {} THEN 'gold'"
        " WHEN COALESCE(sp.spend, 0) >= {} THEN 'silver' ELSE 'regular' END"
    )
    spend = (
        "SELECT member, SUM(amount) AS spend FROM ("
        " SELECT member, total AS amount FROM sale WHERE member IS NOT NULL AND created_at >= {}"
        " UNION ALL SELECT s.member, -r.amount AS amount FROM sale_return r JOIN sale s ON s.id = r.sale"
        " WHERE s.member IS NOT NULL AND r.created_at >= {}) x GROUP BY member"
    )
    async with transaction():
        changed = await fetch(
            "SELECT COUNT(*) AS n FROM member_loyalty ml LEFT JOIN (" + spend + ") sp ON sp.member = ml.member"
            " WHERE (ml.reviewed_on IS NULL OR ml.reviewed_on < {}) AND ml.tier <> " + tier_case,
            since,
            since,
            due,
            r.diamond_fen,
            r.gold_fen,
            r.silver_fen,
        )
        await fetch(
            "UPDATE member_loyalty SET tier = t.new_tier,"
            " tier_since = CASE WHEN t.new_tier <> member_loyalty.tier THEN {} ELSE member_loyalty.tier_since END,"
            " reviewed_on = {}"
            " FROM (SELECT ml.member, " + tier_case + " AS new_tier FROM member_loyalty ml"
            " LEFT JOIN (" + spend + ") sp ON sp.member = ml.member"
            " WHERE ml.reviewed_on IS NULL OR ml.reviewed_on < {}) t"
            " WHERE member_loyalty.member = t.member",
            today,
            today,
            r.diamond_fen,
            r.gold_fen,
            r.silver_fen,
            since,
            since,
            due,
        )
    return int(changed[0]["n"])
