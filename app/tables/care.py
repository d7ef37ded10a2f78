"""Care journeys: versioned definitions, each member's enrolment, and one row per step that ran (at most once)."""

from piccolo.columns import JSON, Boolean, Date, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.auth import Staff
from app.tables.members import Member
from app.tables.stores import Store


class Journey(Table, tablename="journey"):
    """One version of a journey: trigger + steps + hold-out share. (code, version) is unique; one current version."""

    code = Varchar(length=40)
    version = Integer(default=1)
    is_current = Boolean(default=True)
    name_zh = Varchar(length=60)
    name_en = Varchar(length=60, default="")
    purpose = Varchar(length=10, default="care")  # care | marketing | service
    trigger = Varchar(length=20)
    trigger_params = JSON(default="{}")
    steps = JSON(default="[]")
    holdout_pct = Integer(default=0)
    active = Boolean(default=False)
    builtin = Boolean(default=False)
    created_by = ForeignKey(references=Staff, null=True)
    created_at = Timestamptz(default=TimestamptzNow())


class JourneyEnrolment(Table, tablename="journey_enrolment"):
    """A member in one journey version for one occasion; `key` (journey code : member : occasion) is unique."""

    key = Varchar(length=120, unique=True)
    journey = ForeignKey(references=Journey)
    member = ForeignKey(references=Member)
    store = ForeignKey(references=Store, null=True)
    anchor_on = Date()  # the day step delays count from (purchase day, refill-due day …)
    ref = Varchar(length=40, default="")  # what enrolled them: a sale number, a therapy group, a condition code
    held_out = Boolean(default=False)
    status = Varchar(length=10, default="active")  # active | completed | exited
    exit_reason = Varchar(length=20, default="")
    next_step = Integer(default=0)
    next_due_on = Date(null=True, default=None)  # local day in the store's zone
    next_at = Varchar(length=5, default="10:00")  # local time of day HH:MM
    enrolled_at = Timestamptz(default=TimestamptzNow())
    ended_at = Timestamptz(null=True, default=None)


class JourneyStepRun(Table, tablename="journey_step_run"):
    """One step of one enrolment that ran; `key` (enrolment : step) is unique, so a step has at most one effect."""

    key = Varchar(length=60, unique=True)
    enrolment = ForeignKey(references=JourneyEnrolment)
    step = Integer()
    action = Varchar(length=12)
    status = Varchar(length=10)  # done | skipped | held_out | failed
    reason = Varchar(length=30, default="")
    effect = Text(default="")  # the message key, task id or coupon code it made
    at = Timestamptz(default=TimestamptzNow())


class CareCursor(Table, tablename="care_cursor"):
    """Where a chunked trigger sweep got to (journey version + day), so a crashed sweep resumes, never restarts."""

    name = Varchar(length=80, unique=True)
    last_id = Integer(default=0)
    done = Boolean(default=False)
    updated_at = Timestamptz(default=TimestamptzNow())
