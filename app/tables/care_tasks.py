"""The pharmacist's task queue: calls and reviews a journey step (or a person) asked for, each once."""

from piccolo.columns import JSON, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.auth import Staff
from app.tables.members import Member
from app.tables.stores import Store


class CareTask(Table, tablename="care_task"):
    """One task for a role (or a person) at the member's store; `key` is unique (a journey step makes one)."""

    key = Varchar(length=100, unique=True)
    member = ForeignKey(references=Member)
    store = ForeignKey(references=Store, null=True)
    kind = Varchar(length=20)
    priority = Varchar(length=8, default="normal")  # normal | urgent
    role = Varchar(length=20, default="pharmacist")
    assignee = ForeignKey(references=Staff, null=True)
    status = Varchar(length=10, default="open")  # open | done | cancelled
    due_at = Timestamptz(default=TimestamptzNow())
    snoozed_until = Timestamptz(null=True, default=None)
    title = Varchar(length=120, default="")
    params = JSON(default="{}")
    source = JSON(default="{}")
    outcome = Varchar(length=14, default="")
    answers = JSON(default="{}")
    note = Text(default="")
    attempts = Integer(default=0)
    completed_by = ForeignKey(references=Staff, null=True)
    completed_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
