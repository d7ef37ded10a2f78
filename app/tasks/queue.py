"""The SAQ job queue on the configured Redis: what the web enqueues on and the worker listens to."""

from __future__ import annotations

from saq import Queue

from app.redis import redis_url

QUEUE_NAME = "yaoshi"


def make_queue() -> Queue:
    """The job queue on the configured Redis."""
    return Queue.from_url(redis_url(), name=QUEUE_NAME)
