"""Persistence: SQL engine and migrations (``db``), the schema (``tables``), Redis (``redis``)."""

from __future__ import annotations

from gridtwin.store.db import make_engine, migrate
from gridtwin.store.redis import make_redis

__all__ = ["make_engine", "make_redis", "migrate"]
