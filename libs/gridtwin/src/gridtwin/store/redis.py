"""Redis client: a real one for a URL, or fakeredis in-process (the embedded all-in-one default)."""

from __future__ import annotations

import fakeredis
import redis

__all__ = ["make_redis"]

# One in-process server for the whole process: in all-in-one mode every service runs in one process
# and must see the same keys and pub/sub channels, as they would on a real Redis.
_IN_PROCESS = fakeredis.FakeServer()


def make_redis(url: str | None) -> redis.Redis:
    """``redis.Redis`` for ``url`` (``redis://host:port/db``); without one, a ``fakeredis.FakeRedis``
    bound to this process's shared in-process server."""
    if not url:
        return fakeredis.FakeRedis(server=_IN_PROCESS)
    return redis.Redis.from_url(url, health_check_interval=30, socket_connect_timeout=5)
