"""Stored dates and times read back alike whichever engine returned them."""

from datetime import UTC, date, datetime, timedelta, timezone

from app.db import as_date, as_datetime


def test_a_stored_date_reads_back_as_a_date_from_text_a_date_or_a_timestamp() -> None:
    assert as_date("2026-12-03") == as_date(date(2026, 12, 3)) == date(2026, 12, 3)
    assert as_date("2026-12-03 23:59:59+00:00") == date(2026, 12, 3)
    assert as_date(datetime(2026, 12, 3, 23, 0, tzinfo=UTC)) == date(2026, 12, 3)
    assert as_date(None) is None


def test_a_stored_time_reads_back_aware_and_naive_means_utc() -> None:
    utc = datetime(2026, 12, 3, 8, 30, tzinfo=UTC)
    assert as_datetime("2026-12-03 08:30:00") == as_datetime("2026-12-03T08:30:00+00:00") == utc
    assert as_datetime(datetime(2026, 12, 3, 8, 30)) == utc
    shanghai = datetime(2026, 12, 3, 16, 30, tzinfo=timezone(timedelta(hours=8)))
    assert as_datetime(shanghai) == utc and as_datetime(shanghai).tzinfo is shanghai.tzinfo
    assert as_datetime(None) is None
