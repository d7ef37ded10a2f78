"""Coded allergies (FHIR AllergyIntolerance): allergen class, substance, criticality, reaction."""

from piccolo.columns import ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.auth import Staff
from app.tables.members import Member


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
