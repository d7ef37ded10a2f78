"""Import jobs: a store's staff see their store's member imports only; HQ sees all; a job key is never a path."""

from __future__ import annotations

import pytest

from app.components.core.errors import NotFound
from app.components.imports import jobs
from app.db import fetch
from tests.components.imports.files import MESSY, upload
from tests.conftest import actor


async def test_a_job_is_seen_in_its_store_and_by_hq_only() -> None:
    job = await upload(MESSY)
    assert (await jobs.get_job(job.key, await actor("clerk"))).key == job.key
    assert (await jobs.get_job(job.key, await actor("admin"))).store_code == "SH001"
    await fetch(
        "INSERT INTO store (code, name, timezone, active) VALUES ('BJ009', '北京九店', 'Asia/Shanghai', {})", True
    )
    await fetch("UPDATE staff SET store = (SELECT id FROM store WHERE code = 'BJ009') WHERE username = 'clerk'")
    with pytest.raises(NotFound):
        await jobs.get_job(job.key, await actor("clerk"))
    assert await jobs.recent_jobs(await actor("clerk")) == []
    assert [j.key for j in await jobs.recent_jobs(await actor("admin"))] == [job.key]


def test_a_job_key_is_never_a_path() -> None:
    with pytest.raises(NotFound):
        jobs.job_dir("../../etc")
