"""Members (personal identifiers encrypted, blind-indexed) and their coded allergies."""

from piccolo.columns import Boolean, Date, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.staff import Staff
from app.tables.stores import Store


class Member(Table, tablename="member"):
    """A customer. `phone_enc` is AES-GCM ciphertext; `phone_index` a keyed HMAC for exact lookup."""

    member_no = Varchar(length=16, unique=True)
    name = Varchar(length=60)
    gender = Varchar(length=1, default="U")
    birth_date = Date(null=True, default=None)
    phone_enc = Text(null=True, default=None)
    phone_index = Varchar(length=64, null=True, default=None, index=True)
    phone_masked = Varchar(length=11, default="")
    home_store = ForeignKey(references=Store, null=True)
    id_number_enc = Text(null=True, default=None)
    id_number_index = Varchar(length=64, null=True, default=None, index=True)
    address_enc = Text(null=True, default=None)
    member_class = Varchar(length=12, default="member")  # regular | member | key_account
    organisation = Varchar(length=100, default="")  # the institution of a key account
    responsible_pharmacist = ForeignKey(references=Staff, null=True)
    household = Integer(null=True, default=None, index=True)  # household.id (declared in app.tables.care)
    household_role = Varchar(length=10, default="")  # contact | adult | child
    guardian = Integer(null=True, default=None)  # member.id of a child's guardian
    merged_into = Integer(null=True, default=None)  # member.id of the survivor after a merge
    # Consent in force, cached from the append-only consent_event ledger (which is the truth).
    consent_health = Boolean(default=False)
    consent_marketing_sms = Boolean(default=False)
    consent_marketing_wechat = Boolean(default=False)
    consent_kiosk = Boolean(default=False)
    allergy_status = Varchar(length=16, default="unknown")
    allergy_status_by = ForeignKey(references=Staff, null=True)
    allergy_status_at = Timestamptz(null=True, default=None)
    verified_at = Timestamptz(null=True, default=None)
    verified_by = ForeignKey(references=Staff, null=True)
    # Set by the nightly job: profile not confirmed for 12 months.
    verification_due = Boolean(default=False)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class Allergy(Table, tablename="allergy"):
    """One coded allergy or intolerance (after FHIR R4 AllergyIntolerance)."""

    member = ForeignKey(references=Member, index=True)
    allergen_class = Varchar(length=40)
    substance = Varchar(length=60, default="")
    category = Varchar(length=16, default="medication")
    allergy_type = Varchar(length=16, default="allergy")
    criticality = Varchar(length=20, default="unable-to-assess")
    reaction = Varchar(length=40, default="")
    severity = Varchar(length=10, default="")
    verification_status = Varchar(length=20, default="unconfirmed")
    clinical_status = Varchar(length=10, default="active")
    note = Text(default="")
    recorded_by = ForeignKey(references=Staff, null=True)
    recorded_at = Timestamptz(default=TimestamptzNow())
