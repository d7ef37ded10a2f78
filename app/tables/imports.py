"""Import jobs: an uploaded file read in chunks, its counts and its status."""

from piccolo.columns import ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.auth import Staff
from app.tables.stores import Store


class ImportJob(Table, tablename="import_job"):
    """A bulk import run by the worker; progress and the row report live here."""

    job_key = Varchar(length=40, unique=True)
    kind = Varchar(length=20, default="members")
    store = ForeignKey(references=Store, null=True)
    staff = ForeignKey(references=Staff, null=True)
    filename = Varchar(length=200, default="")
    file_sha256 = Varchar(length=64, default="")
    status = Varchar(length=12, default="queued")  # queued | running | done | failed
    total = Integer(default=0)
    processed = Integer(default=0)
    accepted = Integer(default=0)
    updated = Integer(default=0)
    unchanged = Integer(default=0)
    rejected = Integer(default=0)
    error = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    finished_at = Timestamptz(null=True, default=None)
