"""Writing a chunk: a crash inside it rolls the whole chunk back; the bulk SQL names its columns in order."""

from __future__ import annotations

import pytest

from app.components import consents
from app.components.imports import member_import as imports
from app.components.imports import writing
from app.db import fetch
from tests.components.imports.files import (
    big_file,
    job_counts,
    rejected_report,
    upload,
)


async def test_a_crash_inside_a_chunk_rolls_the_chunk_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "CHUNK", 7)
    real_write = writing._write
    calls = {"n": 0}

    async def dies_in_third_chunk(job, created, touched):
        calls["n"] += 1
        await real_write(job, created, touched)
        if calls["n"] == 3:
            raise RuntimeError("the worker died mid-chunk")

    monkeypatch.setattr(writing, "_write", dies_in_third_chunk)
    job = await upload(big_file(40))
    with pytest.raises(RuntimeError):
        await imports.run_import(job.key)
    state = await job_counts(job.key)
    assert state["status"] == "running" and state["processed"] == 14
    assert (await fetch("SELECT COUNT(*) AS n FROM member"))[0]["n"] == state["accepted"]
    done = await imports.run_import(job.key)
    assert (done.status, done.accepted, done.rejected) == ("done", 40, 3)
    assert (await fetch("SELECT COUNT(*) AS n FROM member"))[0]["n"] == 40
    assert len(await rejected_report(job.key)) == 3


def test_the_bulk_writes_name_the_consent_columns_in_the_order_of_the_purposes() -> None:
    # The member insert and update are constant SQL; the values follow consents.PURPOSES.
    assert writing.MEMBER_CONSENT_COLUMNS == tuple(consents.COLUMNS[p] for p in consents.PURPOSES)
    for sql in (writing._INSERT_MEMBER, writing._UPDATE_MEMBER):
        positions = [sql.index(column) for column in writing.MEMBER_CONSENT_COLUMNS]
        assert positions == sorted(positions)
