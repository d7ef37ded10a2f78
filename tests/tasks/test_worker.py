"""The worker's settings: every scheduled job is a registered function."""

from __future__ import annotations

from app.tasks import worker as tasks


def test_the_schedule_names_both_jobs() -> None:
    names = {job.function.__name__ for job in tasks.CRON_JOBS}
    assert names == {
        "purge_sessions",
        "flag_unverified_profiles",
        "expire_points",
        "review_tiers",
        "send_messages",
        "sweep_triggers",
        "run_steps",
        "dispatch_events",
    }


def test_every_scheduled_job_is_a_registered_function() -> None:
    assert {job.function for job in tasks.CRON_JOBS} <= set(tasks.FUNCTIONS)
