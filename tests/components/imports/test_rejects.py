"""Rejected rows: the download, fixed and imported again, imports the rest; it goes with the job's folder."""

from __future__ import annotations

import csv
import io

import pytest

from app.components.imports import jobs, rejects
from app.components.imports import member_import as imports
from app.db import fetch
from app.i18n import use_language
from tests.components.imports.files import (
    MESSY,
    rejected_report,
    upload,
)
from tests.conftest import actor


async def test_a_fixed_rejected_file_imports_the_rest() -> None:
    job = await imports.run_import((await upload(MESSY)).key, language="en")
    with use_language("en"):
        rejected = await rejected_report(job.key)
    fixed = io.StringIO()
    writer = csv.DictWriter(fixed, fieldnames=list(rejected[0]))
    writer.writeheader()
    for row in rejected:
        if row["姓名"] == "赵六":
            row["出生日期"] = "1990-02-28"
        if row["姓名"] == "陈一":
            row["会员类别"] = "会员"
        writer.writerow(row)
    second = await imports.run_import((await upload(fixed.getvalue(), name="fixed.csv")).key, language="en")
    assert (second.accepted, second.rejected) == (2, 4), "the extra reason column is ignored"
    conditions = await fetch(
        "SELECT c.code FROM member_condition c JOIN member m ON m.id = c.member WHERE m.name = '陈一' ORDER BY c.code"
    )
    assert [c["code"] for c in conditions] == ["diabetes", "hypertension"]


async def test_old_import_files_are_purged_and_their_report_says_so(tmp_data_dir) -> None:
    import os
    import time

    from app.components.core.errors import NotFound

    job = await imports.run_import((await upload(MESSY)).key)
    folder = jobs.job_dir(job.key)
    old = time.time() - (jobs.RETENTION_DAYS + 1) * 86400
    os.utime(folder, (old, old))
    assert jobs.purge_old_files() == 1 and not folder.exists()
    with use_language("en"), pytest.raises(NotFound) as exc:
        await rejects.rejected_rows(job.key, await actor())
    assert "deleted" in exc.value.message
