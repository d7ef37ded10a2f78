"""Members (personal identifiers encrypted, blind-indexed), their households, edit history and merges."""

from piccolo.columns import JSON, Boolean, Date, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.auth import Staff
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


class Household(Table, tablename="household"):
    """Family members linked together; one adult is the household's contact."""

    name = Varchar(length=60, default="")
    contact = ForeignKey(references=Member, null=True)
    created_at = Timestamptz(default=TimestamptzNow())


class MemberChange(Table, tablename="member_change"):
    """Edit history: who changed which field when (encrypted fields record the change, not the values)."""

    member = ForeignKey(references=Member, index=True)
    at = Timestamptz(default=TimestamptzNow())
    staff = ForeignKey(references=Staff, null=True)
    field = Varchar(length=30)
    old_value = Text(default="")
    new_value = Text(default="")


class MemberMerge(Table, tablename="member_merge"):
    """A merge of `merged` into `survivor`, with what moved so it can be undone."""

    survivor = ForeignKey(references=Member)
    merged = ForeignKey(references=Member)
    at = Timestamptz(default=TimestamptzNow())
    staff = ForeignKey(references=Staff, null=True)
    moved = JSON(default="{}")
    undone_at = Timestamptz(null=True, default=None)
    undone_by = ForeignKey(references=Staff, null=True)
