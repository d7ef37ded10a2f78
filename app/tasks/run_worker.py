"""Start one SAQ worker process with Yaoshi's settings."""

from __future__ import annotations

import asyncio

from saq import Worker

from app.tasks.worker import worker_settings


def main() -> None:
    """Run until SIGTERM/SIGINT."""

    async def go() -> None:
        worker = Worker(**worker_settings())
        await worker.start()

    asyncio.run(go())


if __name__ == "__main__":
    main()
