"""The chain's loyalty rules: earning rate, member day, redemption rate, tier thresholds and multipliers, the
review date; the manager form that edits them (validated field by field) and saving them (audited)."""

from __future__ import annotations

import calendar
import json
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime
from typing import Any

from app.components import audit
from app.components.core.actor import StaffUser
from app.components.core.errors import ValidationFailed
from app.components.loyalty import queries
from app.db import transaction
from app.i18n import _

RULES_SETTING = "rules"
RULES_CHANGE = "loyalty.rules_change"


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
    return rules_from(await queries.setting(RULES_SETTING))


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
        await queries.save_setting(RULES_SETTING, value, now, actor.id)
        detail = "; ".join(f"{n}: {getattr(old, n)} → {getattr(new, n)}" for n in changed)
        await audit.record(actor, RULES_CHANGE, None, detail)
    return changed
