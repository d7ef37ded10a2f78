"""The `yaoshi` console script, run as a user would, against the test database."""

from __future__ import annotations

import os
import subprocess
import sys

from app.db import fetch


def yaoshi(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )


def test_errors_are_one_clear_line_and_a_non_zero_exit() -> None:
    result = yaoshi("user", "add", "newclerk", "--role", "clerk", stdin="longenough\n")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["yaoshi: role clerk belongs to a store: give --store CODE"]
    result = yaoshi("user", "add", "newclerk", "--role", "clerk", "--store", "ZZ999", stdin="longenough\n")
    assert result.returncode != 0 and "ZZ999" in result.stderr
    result = yaoshi("token", "add", "ghost")
    assert result.returncode != 0 and result.stderr.strip() == "yaoshi: no active user ghost"


async def test_user_add_then_token_add_gives_a_working_api_token(client) -> None:
    result = yaoshi("user", "add", "cli_clerk", "--role", "clerk", "--store", "SH002", stdin="s3cret-pass\n")
    assert result.returncode == 0, result.stderr
    token = yaoshi("token", "add", "cli_clerk").stdout.strip()
    assert token.startswith("ys_")
    stored = await fetch("SELECT token_hash FROM api_token")
    assert token not in str(stored)  # only the hash is kept
    response = await client.post("/api/v1/members", json={"name": "令牌"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201
    assert response.json()["home_store"] == "上海徐汇店"


async def test_seed_chain_adds_members_in_bulk_and_migrate_is_idempotent() -> None:
    assert "up to date" in yaoshi("migrate").stdout
    result = yaoshi("seed", "chain", "--members", "600", "--stores", "2", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert "600 members" in result.stdout
    rows = await fetch("SELECT allergy_status, COUNT(*) AS n FROM member GROUP BY allergy_status")
    counts = {r["allergy_status"]: r["n"] for r in rows}
    assert sum(counts.values()) == 600
    assert 150 < counts["has_allergies"] < 250  # about a third
    stores = await fetch("SELECT COUNT(*) AS n FROM store")
    assert stores[0]["n"] >= 4
    allergies = await fetch("SELECT COUNT(DISTINCT member) AS n FROM allergy")
    assert allergies[0]["n"] == counts["has_allergies"]


async def test_user_add_with_pin_stores_a_verifiable_pin_and_refuses_a_bad_one() -> None:
    from app.components.auth import verify_password

    result = yaoshi(
        "user",
        "add",
        "pin_chemist",
        "--role",
        "pharmacist",
        "--store",
        "SH001",
        "--with-pin",
        stdin="s3cret-pass\n135790\n",
    )
    assert result.returncode == 0, result.stderr
    rows = await fetch("SELECT pin_hash FROM staff WHERE username = 'pin_chemist'")
    assert verify_password(rows[0]["pin_hash"], "135790")
    assert not verify_password(rows[0]["pin_hash"], "000000")
    result = yaoshi(
        "user", "add", "pin_bad", "--role", "pharmacist", "--store", "SH001", "--with-pin", stdin="s3cret-pass\n12ab\n"
    )
    assert result.returncode != 0
    assert result.stderr.strip() == "yaoshi: the PIN must be 4 to 6 digits"


async def test_seed_demo_adds_the_catalog_and_stock_once() -> None:
    result = yaoshi("seed", "demo")
    assert result.returncode == 0, result.stderr
    assert "63 products" in result.stdout
    sellable = await fetch(
        "SELECT COUNT(DISTINCT b.product) AS n FROM stock_batch b JOIN store s ON s.id = b.store"
        " WHERE s.code = 'SH002' AND b.status = 'available' AND b.on_hand > 0"
    )
    assert sellable[0]["n"] == 63  # every demo product can be sold in every demo store
    again = yaoshi("seed", "demo")
    assert again.returncode == 0 and "nothing added" in again.stdout
    assert (await fetch("SELECT COUNT(*) AS n FROM product"))[0]["n"] == 63


async def test_a_new_password_from_the_cli_ends_the_users_open_sessions(client) -> None:
    from app.components.auth import staff as auth
    from tests.conftest import login

    assert (
        yaoshi("user", "add", "cli_reset", "--role", "clerk", "--store", "SH001", stdin="first-pass\n").returncode == 0
    )
    await login(client, "cli_reset", "first-pass")
    assert (await client.get("/counter")).status_code == 200
    result = yaoshi("user", "add", "cli_reset", "--role", "clerk", "--store", "SH001", stdin="second-pass\n")
    assert result.returncode == 0 and "idle timeout" not in result.stdout
    auth.forget_cached_sessions()  # as any web process does within its 2-second session cache
    after = await client.get("/counter", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/login")
