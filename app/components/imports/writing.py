"""Writing a chunk: match its rows, then insert and update members set-based, with their health data, consents and
history, and the job's progress, in one transaction.

A chunk commits together with `import_job.processed`, so a run that dies resumes after the last committed chunk,
and a chunk some other run already committed is skipped (the job's row is locked while a chunk is written).
Health data (allergies, conditions) is written only with the member's consent to process it: given in the same
row, or already on record.
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.components import consents, timeline
from app.components.allergies import allergen_classes
from app.components.core.crypto import encrypt
from app.components.imports import queries
from app.components.imports.jobs import Counts, JobContext
from app.components.imports.matching import Index, Person, candidates, merge, new_person
from app.components.imports.reading import Batch
from app.components.imports.rejects import Reject, write_rejects
from app.components.imports.rows import Row, field_label
from app.components.members import mask_phone, member_no_for, next_serials
from app.db import bulk_sql, execute_many, fetch, transaction
from app.i18n import _

# The set-based writes to the member domain's tables (member, allergy, member_condition, consent_event,
# member_event, member_change): the bulk path the import bench measures, one executemany per table and chunk.
# The consent columns follow `consents.PURPOSES` (a test checks it).
_INSERT_MEMBER = (
    "INSERT INTO member (member_no, name, gender, birth_date, phone_enc, phone_index, phone_masked, id_number_enc,"
    " id_number_index, address_enc, member_class, organisation, home_store, consent_health, consent_marketing_sms,"
    " consent_marketing_wechat, consent_kiosk, allergy_status, allergy_status_by, allergy_status_at, created_at,"
    " updated_at, verification_due)"
    " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})"
)
# Encrypted columns and the mask change only when their value did: COALESCE keeps the stored ones.
_UPDATE_MEMBER = (
    "UPDATE member SET name = {}, gender = {}, birth_date = {}, phone_enc = COALESCE({}, phone_enc),"
    " phone_index = {}, phone_masked = COALESCE({}, phone_masked), id_number_enc = COALESCE({}, id_number_enc),"
    " id_number_index = {}, address_enc = COALESCE({}, address_enc), member_class = {}, organisation = {},"
    " consent_health = {}, consent_marketing_sms = {}, consent_marketing_wechat = {}, consent_kiosk = {},"
    " allergy_status = {}, allergy_status_by = {}, allergy_status_at = {}, updated_at = {} WHERE id = {}"
)
MEMBER_CONSENT_COLUMNS = ("consent_health", "consent_marketing_sms", "consent_marketing_wechat", "consent_kiosk")
_INSERT_ALLERGY = (
    "INSERT INTO allergy (member, allergen_class, substance, category, allergy_type, criticality, reaction, severity,"
    " verification_status, clinical_status, note, recorded_by, recorded_at)"
    " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})"
)
_INSERT_CONDITION = (
    "INSERT INTO member_condition (member, code, source, status, note, evidence, recorded_by, recorded_at)"
    " VALUES ({}, {}, {}, {}, {}, {}, {}, {})"
)
_INSERT_CONSENT = (
    "INSERT INTO consent_event (member, purpose, granted, at, channel, staff, text_version)"
    " VALUES ({}, {}, {}, {}, {}, {}, {})"
)
_INSERT_EVENT = (
    "INSERT INTO member_event (member, at, kind, summary, staff, store, ref) VALUES ({}, {}, {}, {}, {}, {}, {})"
)
_INSERT_CHANGE = (
    "INSERT INTO member_change (member, at, staff, field, old_value, new_value) VALUES ({}, {}, {}, {}, {}, {})"
)


async def apply_chunk(job: JobContext, start: int, rows: list[Row]) -> tuple[Counts, list[Reject]] | None:
    """Match and write one chunk; None when another run already committed it. Call inside a transaction."""
    if await queries.lock_processed(job.id) != start:
        return None
    counts = Counts()
    rejects: list[Reject] = []
    index = Index()
    for p in await candidates(rows):
        index.add(p)
    touched: list[Person] = []
    created: list[Person] = []
    for r in rows:
        person = index.match(r)
        if person is not None and r.id_idx and person.id_idx and r.id_idx != person.id_idx:
            # Same phone and name but another resident ID: a typo, or another person; a person decides.
            rejects.append(Reject(r.row_no, [], "id_conflict", [person.ref]))
            continue
        if person is not None and person.name != r.name:
            # The resident ID matched someone of another name: most likely a mistyped ID. An import never renames.
            rejects.append(Reject(r.row_no, [], "name_conflict", [person.ref]))
            continue
        if r.wants_health:
            agreed = r.consents.get(consents.HEALTH_DATA)
            if agreed is None and person is not None:
                agreed = person.consents[consents.HEALTH_DATA]
            if not agreed:
                rejects.append(Reject(r.row_no, [], "health_consent"))
                continue
        if person is None:
            person = new_person(r)
            created.append(person)
            index.add(person)
            counts.accepted += 1
            continue
        if merge(person, r):
            counts.updated += 1
            if person.id is not None and person not in touched:
                touched.append(person)
        else:
            counts.unchanged += 1
        index.add(person)
    counts.rejected = len(rejects)
    await _write(job, created, touched)
    return counts, rejects


async def _write(job: JobContext, created: list[Person], touched: list[Person]) -> None:
    """Insert the new members and update the matched ones, with their health data, consents and history."""
    actor = job.actor
    now = datetime.now(UTC)
    if created:
        first = await next_serials("member", len(created))
        for i, p in enumerate(created):
            p.member_no = member_no_for(first + i)
            if p.allergy_status != "unknown":
                p.allergy_status_by, p.allergy_status_at = actor.id, now
        await execute_many(
            bulk_sql(_INSERT_MEMBER),
            [
                (
                    p.member_no,
                    p.name,
                    p.gender,
                    p.birth_date,
                    encrypt(p.phone, "phone") if p.phone else None,
                    p.phone_idx,
                    mask_phone(p.phone),
                    encrypt(p.id_number, "id_number") if p.id_number else None,
                    p.id_idx,
                    encrypt(p.address, "address") if p.address else None,
                    p.member_class,
                    p.organisation,
                    job.store_id,
                    *(p.consents[purpose] for purpose in consents.PURPOSES),
                    p.allergy_status,
                    p.allergy_status_by,
                    p.allergy_status_at,
                    now,
                    now,
                    False,
                )
                for p in created
            ],
        )
        rows = await fetch(
            "SELECT id, member_no FROM member WHERE member_no >= {} AND member_no <= {}",
            member_no_for(first),
            member_no_for(first + len(created) - 1),
        )
        ids = {r["member_no"]: r["id"] for r in rows}
        for p in created:
            p.id = ids[p.member_no]
    if touched:
        updates = []
        for p in touched:
            if p.new_allergies or "allergy_status" in p.changed:
                p.allergy_status_by, p.allergy_status_at = actor.id, now
            phone_enc = encrypt(p.phone, "phone") if "phone" in p.changed and p.phone else None
            updates.append(
                (
                    p.name,
                    p.gender,
                    p.birth_date,
                    phone_enc,
                    p.phone_idx,
                    mask_phone(p.phone) if "phone" in p.changed else None,
                    encrypt(p.id_number, "id_number") if "id_number" in p.changed and p.id_number else None,
                    p.id_idx,
                    encrypt(p.address, "address") if "address" in p.changed and p.address else None,
                    p.member_class,
                    p.organisation,
                    *(p.consents[purpose] for purpose in consents.PURPOSES),
                    p.allergy_status,
                    p.allergy_status_by,
                    p.allergy_status_at,
                    now,
                    p.id,
                )
            )
        await execute_many(bulk_sql(_UPDATE_MEMBER), updates)
    everyone = created + touched
    allergy_rows = [
        (
            p.id,
            code,
            "",
            allergen_classes()[code].category,
            "allergy",
            "unable-to-assess",
            "",
            "",
            "unconfirmed",
            "active",
            "",
            actor.id,
            now,
        )
        for p in everyone
        for code in p.new_allergies
    ]
    if allergy_rows:
        await execute_many(bulk_sql(_INSERT_ALLERGY), allergy_rows)
    condition_rows = [
        (p.id, code, "declared", "active", "", "", actor.id, now) for p in everyone for code in p.new_conditions
    ]
    if condition_rows:
        await execute_many(bulk_sql(_INSERT_CONDITION), condition_rows)
    consent_rows = []
    events = []
    ref = job.key[:40]
    granted_word, withdrawn_word = _("granted"), _("withdrawn")
    for p in everyone:
        for purpose, granted in p.consent_changes.items():
            consent_rows.append((p.id, purpose, granted, now, "import", actor.id, consents.TEXT_VERSION))
            verb = granted_word if granted else withdrawn_word
            events.append(
                (
                    p.id,
                    now,
                    timeline.CONSENT,
                    f"{consents.purpose_label(purpose)}: {verb}",
                    actor.id,
                    job.store_id,
                    purpose,
                )
            )
    if consent_rows:
        await execute_many(bulk_sql(_INSERT_CONSENT), consent_rows)
    created_text = _("Imported from %(file)s") % {"file": job.filename}
    for p in created:
        events.append((p.id, now, timeline.IMPORTED, created_text, actor.id, job.store_id, ref))
    changes = []
    for p in touched:
        labels = [field_label(name) for name in p.changed]
        labels += [_("allergies")] if p.new_allergies else []
        labels += [_("conditions")] if p.new_conditions else []
        labels += [_("consents")] if p.consent_changes else []
        summary = _("Updated by import from %(file)s: %(fields)s") % {"file": job.filename, "fields": "、".join(labels)}
        events.append((p.id, now, timeline.IMPORTED, summary, actor.id, job.store_id, ref))
        changes += [(p.id, now, actor.id, name, old, new) for name, (old, new) in p.changed.items()]
    if events:
        await execute_many(bulk_sql(_INSERT_EVENT), events)
    if changes:
        await execute_many(bulk_sql(_INSERT_CHANGE), changes)


async def commit_chunk(
    job: JobContext, start: int, end: int, batch: Batch, valid: list[Row], rejects: list[Reject]
) -> bool:
    """Apply one validated chunk and record its progress in one transaction; False when another run did it."""
    async with transaction():
        result = await apply_chunk(job, start, valid)
        if result is None:
            return False
        counts, late = result
        if late:
            cells_of = dict(batch)
            for reject in late:
                reject.cells = cells_of[reject.row_no]
        counts.rejected += len(rejects)
        # Written before the commit: a run that dies here leaves a report for an uncommitted chunk, which the
        # next run deletes (its name is past `processed`) and writes again.
        write_rejects(job.key, start, sorted(rejects + late, key=lambda x: x.row_no))
        await queries.add_progress(job.id, end, counts.accepted, counts.updated, counts.unchanged, counts.rejected)
    return True
