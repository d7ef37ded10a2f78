"""Demo data and synthetic chains: stores, staff for every role, members with and without allergies."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from app.components import care, care_tasks, catalog, coupons, stock
from app.components.allergies import allergen_classes
from app.components.auth import hash_password
from app.components.consents import TEXT_VERSION
from app.components.core.actor import StaffUser
from app.components.core.crypto import encrypt
from app.components.health import NewVital, record_vital
from app.components.members import mask_phone, member_no_for, next_serials, phone_index
from app.db import bulk_sql, execute_many, fetch, transaction

DEMO_PASSWORD = "yaoshi123"
# Pharmacists and store managers approve overrides at a clerk's counter with this PIN.
DEMO_PIN = "2468"
PIN_ROLES = ("pharmacist", "store_manager")
DEMO_STORES = [("SH001", "上海南京西路店"), ("SH002", "上海徐汇店")]
# Printed on receipts, refund slips and guidance slips (fictitious numbers).
DEMO_STORE_PHONES = {"SH001": "021-6288 0001", "SH002": "021-6468 0002"}
DEMO_STAFF = [
    # username, display name, role, store
    ("pharmacist", "王药师", "pharmacist", "SH001"),
    ("clerk", "李店员", "clerk", "SH001"),
    ("service", "赵客服", "service", "SH001"),
    ("manager", "陈店长", "store_manager", "SH001"),
    ("admin", "总部管理员", "hq_admin", None),
    ("analyst", "总部分析师", "hq_analyst", None),
]
# Cards a demo (and the e2e tests) can type: serials 1-3 are created first on an empty database.
DEMO_MEMBERS = [
    ("张伟", "M", date(1962, 5, 14), "13812341234", "has_allergies"),
    ("李娜", "F", date(1985, 11, 2), "13912345678", "none"),
    ("王芳", "F", date(1990, 3, 21), "13600001111", "unknown"),
]
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "177",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "199",
]
CHUNK = 5000


async def ensure_store(code: str, name: str) -> int:
    """The id of store `code`, creating it when missing."""
    await fetch(
        "INSERT INTO store (code, name, timezone, active, created_at) VALUES ({}, {}, 'Asia/Shanghai',"
        " {}, {}) ON CONFLICT (code) DO NOTHING",
        code,
        name,
        True,
        datetime.now(UTC),
    )
    return (await fetch("SELECT id FROM store WHERE code = {}", code))[0]["id"]


async def add_staff(
    username: str, display_name: str, role: str, store_code: str | None, password: str, pin: str | None = None
) -> int:
    """Create a staff user (or reset the password and PIN of an existing one); return the id.

    The PIN is what a pharmacist or manager types at another's counter to approve an override.
    """
    pin_hash = hash_password(pin) if pin else None
    store_id = None
    if store_code:
        rows = await fetch("SELECT id FROM store WHERE code = {}", store_code)
        if not rows:
            raise LookupError(f"no store with code {store_code}")
        store_id = rows[0]["id"]
    existing = await fetch("SELECT id FROM staff WHERE username = {}", username)
    if existing:
        await fetch(
            "UPDATE staff SET password_hash = {}, pin_hash = {}, role = {}, store = {}, display_name = {}"
            " WHERE id = {}",
            hash_password(password),
            pin_hash,
            role,
            store_id,
            display_name,
            existing[0]["id"],
        )
        return existing[0]["id"]
    rows = await fetch(
        "INSERT INTO staff (username, display_name, role, store, password_hash, pin_hash, active, created_at)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
        username,
        display_name,
        role,
        store_id,
        hash_password(password),
        pin_hash,
        True,
        datetime.now(UTC),
    )
    return rows[0]["id"]


@dataclass
class SeedReport:
    """What a seed run created."""

    stores: int = 0
    staff: int = 0
    members: int = 0
    allergies: int = 0
    products: int = 0
    batches: int = 0


async def seed_demo() -> SeedReport:
    """Demo stores, one login per role, three demo members, a few hundred synthetic ones, the demo catalog and
    stock in every store (idempotent: people only into an empty database, catalog and stock when missing)."""
    report = SeedReport()
    if not (await fetch("SELECT COUNT(*) AS n FROM staff"))[0]["n"]:
        await _demo_people(report)
    await _demo_shop(report)
    return report


async def _demo_shop(report: SeedReport) -> None:
    """The demo catalog, a few batches of each product in each store, the demo coupons and the built-in care
    journeys (switched on), when there is no catalog yet; the first demo member gets a welcome coupon."""

    if (await fetch("SELECT COUNT(*) AS n FROM product"))[0]["n"]:
        return
    report.products = await catalog.seed_demo_catalog()
    report.batches = await stock.seed_demo_stock()
    await coupons.seed_demo_coupons()
    await care.seed_builtin_journeys(active=True)
    first = await fetch("SELECT id FROM member WHERE member_no = {}", member_no_for(1))
    if first:
        await coupons.issue("NEW10", first[0]["id"], "manual", f"demo:NEW10:{member_no_for(1)}", None)
    await _demo_task()


async def _demo_task() -> None:
    """The second demo member's day-30 follow-up call of the hypertension course, due now at SH001 (what the
    journey's step makes), so the pharmacist's queue shows a task on the first start."""
    rows = await fetch(
        "SELECT m.id, s.id AS store FROM member m JOIN store s ON s.code = 'SH001' WHERE m.member_no = {}",
        member_no_for(2),
    )
    if not rows:
        return
    now = datetime.now(UTC)
    task = care_tasks.NewTask(
        key=f"demo:follow_up:{member_no_for(2)}",
        member_id=rows[0]["id"],
        store_id=rows[0]["store"],
        kind="follow_up_call",
        priority="normal",
        role="pharmacist",
        assignee_id=None,
        due_at=now - timedelta(hours=1),
        title="%(journey)s: step %(step)s",
        params={"journey": {"zh-CN": "高血压慢病关怀", "en": "Hypertension care"}, "step": 2},
        source={"journey": "hypertension_care", "version": 1, "step": 1},
    )
    async with transaction():
        await care_tasks.create_task(task, now)


async def _demo_people(report: SeedReport) -> None:
    """Stores, staff and demo members (first start only)."""
    for code, name in DEMO_STORES:
        await ensure_store(code, name)
        await fetch("UPDATE store SET phone = {} WHERE code = {} AND phone = ''", DEMO_STORE_PHONES[code], code)
        report.stores += 1
    staff_ids = {}
    for username, display, role, store in DEMO_STAFF:
        staff_ids[username] = await add_staff(
            username, display, role, store, DEMO_PASSWORD, DEMO_PIN if role in PIN_ROLES else None
        )
        report.staff += 1
    store_id = (await fetch("SELECT id FROM store WHERE code = 'SH001'"))[0]["id"]
    now = datetime.now(UTC)
    pharmacist = staff_ids["pharmacist"]
    async with transaction():
        first = await next_serials("member", len(DEMO_MEMBERS))
        for offset, (name, gender, birth, phone, status) in enumerate(DEMO_MEMBERS):
            rows = await fetch(
                "INSERT INTO member (member_no, name, gender, birth_date, phone_enc, phone_index, phone_masked,"
                " home_store, allergy_status, allergy_status_by, allergy_status_at, verified_at, created_at,"
                " updated_at, verification_due, consent_health)"
                " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
                member_no_for(first + offset),
                name,
                gender,
                birth,
                encrypt(phone, "phone"),
                phone_index(phone),
                mask_phone(phone),
                store_id,
                status,
                pharmacist if status != "unknown" else None,
                now if status != "unknown" else None,
                now,
                now,
                now,
                False,
                status != "unknown",
            )
            if status != "unknown":
                # Their allergy status is health data: stored only with the member's consent.
                await fetch(
                    "INSERT INTO consent_event (member, purpose, granted, at, channel, staff, text_version)"
                    " VALUES ({}, 'health_data', {}, {}, 'counter', {}, {})",
                    rows[0]["id"],
                    True,
                    now,
                    pharmacist,
                    TEXT_VERSION,
                )
            if status == "has_allergies":
                for cls, substance, criticality, reaction in (
                    ("penicillins", "amoxicillin", "high", "anaphylaxis"),
                    ("nsaids", "", "low", "urticaria"),
                ):
                    await fetch(
                        "INSERT INTO allergy (member, allergen_class, substance, category, allergy_type, criticality,"
                        " reaction, severity, verification_status, clinical_status, note, recorded_by, recorded_at)"
                        " VALUES ({}, {}, {}, 'medication', 'allergy', {}, {}, '', 'confirmed', 'active', '', {}, {})",
                        rows[0]["id"],
                        cls,
                        substance,
                        criticality,
                        reaction,
                        pharmacist,
                        now,
                    )
                    report.allergies += 1
            report.members += 1
    await _demo_vitals(member_no_for(first), staff_ids["pharmacist"])
    chain = await seed_chain(members=300, stores=0, seed=7)
    report.members += chain.members
    report.allergies += chain.allergies


async def _demo_vitals(member_no: str, pharmacist_id: int) -> None:
    """A year of blood pressure and fasting glucose for the first demo member, so the chart has a story."""

    actor = StaffUser(
        id=pharmacist_id,
        username="pharmacist",
        display_name="王药师",
        role="pharmacist",
        store_id=None,
        store_code=None,
        store_name=None,
        channel="seed",
    )
    today = date.today()
    readings = [
        (152, 96, 8.1),
        (148, 94, 7.6),
        (145, 92, 7.4),
        (141, 90, 7.0),
        (138, 88, 6.8),
        (136, 86, 6.6),
        (139, 87, 6.9),
        (134, 84, 6.4),
        (131, 82, 6.2),
        (129, 80, 6.1),
        (132, 83, 6.3),
        (128, 80, 6.0),
    ]
    for months_ago, (systolic, diastolic, glucose) in zip(range(11, -1, -1), readings, strict=True):
        when = (today - timedelta(days=30 * months_ago + 2)).isoformat() + "T09:30"
        await record_vital(
            member_no,
            NewVital(kind="bp", systolic=str(systolic), diastolic=str(diastolic), pulse="76", measured_at=when),
            actor,
        )
        await record_vital(
            member_no,
            NewVital(kind="glucose", glucose=str(glucose), glucose_context="fasting", measured_at=when),
            actor,
        )
    await record_vital(member_no, NewVital(kind="", height_cm="172", weight_kg="78.5"), actor)


def _fake_people(count: int, rng: random.Random) -> list[tuple[str, str, date]]:
    from faker import Faker

    fake = Faker("zh_CN")
    fake.seed_instance(rng.randrange(1 << 30))
    today = date.today()
    people = []
    for _ in range(count):
        gender = rng.choice("MF")
        name = fake.name_male() if gender == "M" else fake.name_female()
        birth = today - timedelta(days=rng.randint(18 * 365, 90 * 365))
        people.append((name, gender, birth))
    return people


# Demo data is written in bulk straight into the member domain's tables (member, consent_event, allergy).
_INSERT_MEMBER = (
    "INSERT INTO member (member_no, name, gender, birth_date, phone_enc, phone_index, phone_masked, home_store,"
    " allergy_status, verified_at, created_at, updated_at, verification_due, consent_health)"
    " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})"
)
_INSERT_CONSENT = (
    "INSERT INTO consent_event (member, purpose, granted, at, channel, staff, text_version)"
    " VALUES ({}, {}, {}, {}, {}, {}, {})"
)
_INSERT_ALLERGY = (
    "INSERT INTO allergy (member, allergen_class, substance, category, allergy_type, criticality, reaction, severity,"
    " verification_status, clinical_status, note, recorded_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})"
)


async def seed_chain(members: int, stores: int, seed: int = 1, allergy_share: float = 1 / 3) -> SeedReport:
    """A synthetic chain: `stores` more stores and `members` members, inserted in chunks (no per-member queries)."""
    rng = random.Random(seed)
    report = SeedReport()
    existing = await fetch("SELECT COUNT(*) AS n FROM store")
    for i in range(stores):
        n = existing[0]["n"] + i + 1
        await ensure_store(f"S{n:04d}", f"门店{n:04d}")
        report.stores += 1
    store_ids = [r["id"] for r in await fetch("SELECT id FROM store ORDER BY id")]
    if not store_ids:
        store_ids = [await ensure_store("SH001", DEMO_STORES[0][1])]
    classes = [c for c in allergen_classes().values() if c.category == "medication"]
    now = datetime.now(UTC)
    done = 0
    while done < members:
        size = min(CHUNK, members - done)
        async with transaction():
            first = await next_serials("member", size)
        people = _fake_people(size, rng)
        rows, flagged, consented, verified_at = [], [], [], {}
        for i, (name, gender, birth) in enumerate(people):
            member_no = member_no_for(first + i)
            phone = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
            roll = rng.random()
            status = "has_allergies" if roll < allergy_share else ("none" if roll < 0.6 else "unknown")
            verified = now - timedelta(days=rng.randint(0, 540))
            verified_at[member_no] = verified
            rows.append(
                (
                    member_no,
                    name,
                    gender,
                    birth,
                    encrypt(phone, "phone"),
                    phone_index(phone),
                    mask_phone(phone),
                    rng.choice(store_ids),
                    status,
                    verified,
                    verified,
                    verified,
                    verified < now - timedelta(days=365),
                    status != "unknown",
                )
            )
            if status == "has_allergies":
                flagged.append(member_no)
            if status != "unknown":
                consented.append(member_no)
        await execute_many(bulk_sql(_INSERT_MEMBER), rows)
        if consented:
            # A recorded allergy status is health data: those members consented (one ledger row each).
            ids = await _ids_for(consented)
            await execute_many(
                bulk_sql(_INSERT_CONSENT),
                [(ids[no], "health_data", True, verified_at[no], "import", None, TEXT_VERSION) for no in consented],
            )
        if flagged:
            ids = await _ids_for(flagged)
            allergy_rows = []
            for member_no in flagged:
                cls = rng.choice(classes)
                substance = rng.choice(cls.substances)[0] if cls.substances and rng.random() < 0.5 else ""
                allergy_rows.append(
                    (
                        ids[member_no],
                        cls.code,
                        substance,
                        "medication",
                        "allergy",
                        rng.choice(["high", "low", "unable-to-assess"]),
                        rng.choice(["rash", "urticaria", "anaphylaxis", ""]),
                        "",
                        "confirmed",
                        "active",
                        "",
                        now,
                    )
                )
            await execute_many(bulk_sql(_INSERT_ALLERGY), allergy_rows)
            report.allergies += len(allergy_rows)
        report.members += size
        done += size
    return report


async def _ids_for(member_nos: list[str]) -> dict[str, int]:
    rows = await fetch(
        "SELECT id, member_no FROM member WHERE member_no >= {} AND member_no <= {}", min(member_nos), max(member_nos)
    )
    return {r["member_no"]: r["id"] for r in rows}
