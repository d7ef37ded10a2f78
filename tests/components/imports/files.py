"""Shared by the import tests: a messy file, uploads in small pieces, and what a job left behind."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from app.components import members
from app.components.imports import member_import as imports
from app.components.imports import rejects
from app.db import fetch
from tests.conftest import actor

HEADER = "姓名,性别,出生日期,手机号,地址,身份证号,会员类别,过敏类别,慢病,健康数据授权,短信营销授权\n"
MESSY = (
    HEADER
    + "王小明,男,1980-01-15,13700001111,,,,,,,是\n"  # 2 new
    + "\n"  # 3 blank line
    + "赵六,女,1990-02-30,13700002222,,,,,,,\n"  # 4 wrong date
    + "钱七,,,12345,,,,,,,\n"  # 5 bad phone
    + "孙八,男,1975/3/8,13600002222,,,,penicillins;nsaids,,是,\n"  # 6 new, coded allergies
    + "周九,,,13500003333,,,,penicillins;kryptonite,,是,\n"  # 7 unknown allergy class
    + "王小明,男,1980-01-15,13700001111,,,,,,,是\n"  # 8 repeats row 2
    + "张伟,M,1962-05-14,138 1234 1234,上海市静安区南京西路1号,,,,,,\n"  # 9 existing member, new address
    + "李娜,F,1985-11-02,13912345678,,,,,,,\n"  # 10 existing member, nothing new
    + "吴十,,,13300004444,,,,青霉素类,,,\n"  # 11 allergy without health-data consent
    + ",男,1970-01-01,13300005555,,,,,,,\n"  # 12 no name
    + "陈一,女,1958-07-01,13300006666,,,大客户,,hypertension;糖尿病,是,\n"  # 13 key account, no organisation
    + "郑二,女,2010-06-01,13700001111,,,,,,,\n"  # 14 shares row 2's phone: family, a new member
    + " , , ,,,,,,,,\n"  # 15 blank with spaces
)


async def pieces(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 7):
        yield data[i : i + 7]


async def upload(text: str, username: str = "pharmacist", name: str = "customers.csv", store: str = ""):
    submitted = await imports.submit(await actor(username), name, pieces(text.encode("utf-8")), store)
    return submitted.job


async def register_two() -> None:
    pharmacist = await actor()
    await members.register(
        members.NewMember(name="张伟", gender="M", birth_date="1962-05-14", phone="13812341234"), pharmacist
    )
    await members.register(
        members.NewMember(name="李娜", gender="F", birth_date="1985-11-02", phone="13912345678"), pharmacist
    )


async def job_counts(job_key: str) -> dict:
    rows = await fetch(
        "SELECT status, processed, accepted, updated, unchanged, rejected FROM import_job WHERE job_key = {}", job_key
    )
    return dict(rows[0])


async def table_counts() -> dict[str, int]:
    found = {}
    for table in ("member", "allergy", "member_condition", "consent_event", "member_event", "member_change"):
        found[table] = (await fetch(f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"]
    return found


async def rejected_report(job_key: str, username: str = "pharmacist") -> list[dict]:
    stream = await rejects.rejected_rows(job_key, await actor(username))
    data = b"".join([chunk async for chunk in stream]).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(data)))


def big_file(rows: int) -> str:
    lines = [HEADER.rstrip("\n")]
    for i in range(rows):
        phone = f"137{i:08d}"
        allergy = "penicillins" if i % 3 == 0 else ""
        lines.append(f"会员{i},{'男' if i % 2 else '女'},1970-01-{1 + i % 28:02d},{phone},,,,{allergy},,是,")
        if i % 10 == 9:
            lines.append("")
        if i % 11 == 10:
            lines.append(f"坏号{i},,,1{i},,,,,,,")
    return "\n".join(lines) + "\n"
