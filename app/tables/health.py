"""The health archive: conditions, vitals over time, preferences."""

from piccolo.columns import Date, Float, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.auth import Staff
from app.tables.members import Member


class Condition(Table, tablename="member_condition"):
    """A chronic condition or state from the standard vocabulary, with where it came from."""

    member = ForeignKey(references=Member, index=True)
    code = Varchar(length=40)
    source = Varchar(length=12, default="declared")  # declared | inferred | confirmed
    status = Varchar(length=10, default="active")  # active | resolved
    onset = Date(null=True, default=None)
    note = Text(default="")
    evidence = Varchar(length=40, default="")  # e.g. the ATC code of the purchase it was inferred from
    recorded_by = ForeignKey(references=Staff, null=True)
    recorded_at = Timestamptz(default=TimestamptzNow())
    confirmed_by = ForeignKey(references=Staff, null=True)
    confirmed_at = Timestamptz(null=True, default=None)


class Vital(Table, tablename="vital"):
    """One measurement: blood pressure, blood glucose, weight or height (units fixed per kind)."""

    member = ForeignKey(references=Member, index=True)
    kind = Varchar(length=12)  # bp | glucose | weight | height
    systolic = Integer(null=True, default=None)  # mmHg
    diastolic = Integer(null=True, default=None)  # mmHg
    pulse = Integer(null=True, default=None)  # beats per minute
    glucose = Float(null=True, default=None)  # mmol/L
    glucose_context = Varchar(length=12, default="")  # fasting | post_meal_2h | random
    weight_kg = Float(null=True, default=None)
    height_cm = Float(null=True, default=None)
    flag = Varchar(length=8, default="")  # "" | high | low
    measured_at = Timestamptz(default=TimestamptzNow(), index=True)
    source = Varchar(length=10, default="counter")  # counter | kiosk | api | import
    recorded_by = ForeignKey(references=Staff, null=True)


class Preference(Table, tablename="member_preference"):
    """A preference tag: brand, dosage form, contact channel or time of day."""

    member = ForeignKey(references=Member, index=True)
    kind = Varchar(length=16)  # brand | dosage_form | channel | contact_time
    value = Varchar(length=60)
    created_at = Timestamptz(default=TimestamptzNow())
