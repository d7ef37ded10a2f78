"""Import jobs: a store's staff see their store's member imports only; HQ sees all; a job key is never a path."""

from __future__ import annotations

import pytest

from app.components.core.errors import NotFound
from app.components.imports import jobs
from tests.components.imports.files import MESSY, upload
from tests.conftest import actor


async def test_a_job_is_seen_in_its_store_and_by_hq_only() -> None:
    job = await upload(MESSY)  # by the pharmacist of SH001
    assert (await jobs.get_job(job.key, await actor("clerk"))).key == job.key
    assert (await jobs.get_job(job.key, await actor("admin"))).store_code == "SH001"
    other_store = await actor("pharmacist2")  # SH002
    with pytest.raises(NotFound):
        await jobs.get_job(job.key, other_store)
    assert await jobs.recent_jobs(other_store) == []
    assert [j.key for j in await jobs.recent_jobs(await actor("admin"))] == [job.key]


def test_a_job_key_is_never_a_path() -> None:
    with pytest.raises(NotFound):
        jobs.job_dir("../../etc")
