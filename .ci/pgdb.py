"""Create or drop a scratch PostgreSQL database: `pgdb.py create|drop ADMIN_URL NAME`."""

import asyncio
import sys

import asyncpg


async def main(action: str, url: str, name: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if action == "create":
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
