"""Chain-wide counter settings that HQ sets (returns of dispensed medicines, print paper)."""

from piccolo.columns import JSON, ForeignKey, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from app.tables.auth import Staff


class ChainSetting(Table, tablename="chain_setting"):
    """One named setting of the chain as JSON (`app.components.chain_settings` reads and writes it)."""

    name = Varchar(length=40, unique=True)
    value = JSON(default="{}")
    updated_at = Timestamptz(default=TimestamptzNow())
    updated_by = ForeignKey(references=Staff, null=True)
