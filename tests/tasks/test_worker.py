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


def test_every_scheduled_job_may_run_longer_than_its_own_budget() -> None:
    from app.components.care.steps import RUN_BUDGET_S
    from app.tasks.messages import SEND_BUDGET_S

    jobs = {job.function.__name__: job for job in tasks.CRON_JOBS}
    # SAQ's default timeout (10 s) would cancel a chain-sized sweep or step run half way, every time.
    assert all(job.timeout and job.timeout >= 300 for job in jobs.values())
    assert jobs["run_steps"].timeout > RUN_BUDGET_S and jobs["send_messages"].timeout > SEND_BUDGET_S


def test_a_worker_started_without_the_schedule_runs_queued_jobs_only(monkeypatch) -> None:
    from app.settings import get_settings

    monkeypatch.setenv("YAOSHI_WORKER_CRON", "0")
    get_settings.cache_clear()
    try:
        settings = tasks.worker_settings()
        assert settings["cron_jobs"] == [] and set(settings["functions"]) == set(tasks.FUNCTIONS)
    finally:
        monkeypatch.delenv("YAOSHI_WORKER_CRON")
        get_settings.cache_clear()
    assert tasks.worker_settings()["cron_jobs"] == tasks.CRON_JOBS
