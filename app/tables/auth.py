"""Staff users with a role (and a store for store roles), their API tokens and approval-PIN lock-outs."""

from piccolo.columns import Boolean, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.stores import Store


class Staff(Table, tablename="staff"):
    """A person who logs in; `password_hash` is argon2, `pin_hash` for counter overrides."""

    username = Varchar(length=60, unique=True, index=True)
    display_name = Varchar(length=100)
    role = Varchar(length=20)
    store = ForeignKey(references=Store, null=True)
    password_hash = Varchar(length=200)
    pin_hash = Varchar(length=200, null=True)
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())


class ApiToken(Table, tablename="api_token"):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    staff = ForeignKey(references=Staff)
    token_hash = Varchar(length=64, unique=True, index=True)
    label = Varchar(length=100, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)
    revoked = Boolean(default=False)


class PinLockout(Table, tablename="pin_lockout"):
    """Wrong approval PINs of one approver in a row; refused until `locked_until` (see app.components.pin_lock)."""

    staff = ForeignKey(references=Staff, unique=True)
    failures = Integer(default=0)
    locked_until = Timestamptz(null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())
