"""Job progress on Redis pub/sub: channel ``gridtwin:{instance}:jobs:{job_id}``, latest event at
``...:last``. The instance part keeps two installations that share one Redis server apart.

Events are JSON objects ``{"job_id", "type", "feeder", "done", "failed", "total", "eta_s", "status",
"ts"}`` (docs/CONTRACTS.md). Pub/sub delivers only to listeners subscribed at publish time, so a
listener subscribes first (``subscribe``) and reads ``last`` to catch up on what it missed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import redis

__all__ = ["EVENT_TYPES", "TERMINAL_EVENTS", "JobEvents", "JobSubscription", "channel", "last_key"]

EVENT_TYPES = ("started", "task_done", "task_failed", "finished", "cancelled")
TERMINAL_EVENTS = frozenset({"finished", "cancelled"})
LAST_TTL_S = 7 * 24 * 3600  # a finished job's last event stays readable for a week


def channel(job_id: str, instance: str = "") -> str:
    return f"gridtwin:{instance}:jobs:{job_id}" if instance else f"gridtwin:jobs:{job_id}"


def last_key(job_id: str, instance: str = "") -> str:
    return f"{channel(job_id, instance)}:last"


def make_event(job_id: str, type_: str, **fields: Any) -> dict[str, Any]:
    """A complete event: every contract key present (None when it does not apply)."""
    event: dict[str, Any] = {
        "job_id": job_id,
        "type": type_,
        "feeder": None,
        "done": None,
        "failed": None,
        "total": None,
        "eta_s": None,
        "status": None,
        "ts": datetime.now(UTC).isoformat(),
    }
    event.update(fields)
    return event


class JobSubscription:
    """A live subscription to one job's channel (subscribed on creation). Close it when done."""

    def __init__(self, client: redis.Redis, job_id: str, instance: str = "") -> None:
        self.job_id = job_id
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        self._pubsub.subscribe(channel(job_id, instance))

    def get(self, timeout_s: float) -> dict[str, Any] | None:
        """The next event, or None if none arrives within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            message = self._pubsub.get_message(timeout=min(remaining, 0.5))
            if message and message.get("type") == "message":
                data = message["data"]
                parsed: dict[str, Any] = json.loads(data)
                return parsed

    def events(self, timeout_s: float, *, until_terminal: bool = True) -> Iterator[dict[str, Any]]:
        """Events as they come, ending after ``timeout_s`` overall or after a terminal event."""
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            event = self.get(remaining)
            if event is None:
                return
            yield event
            if until_terminal and event.get("type") in TERMINAL_EVENTS:
                return

    def close(self) -> None:
        self._pubsub.unsubscribe()
        self._pubsub.close()

    def __enter__(self) -> JobSubscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class JobEvents:
    """Publish and read job progress events on a ``redis.Redis`` (real or fakeredis)."""

    def __init__(self, client: redis.Redis, *, instance: str = "", last_ttl_s: int = LAST_TTL_S) -> None:
        self.redis = client
        self.instance = instance
        self.last_ttl_s = last_ttl_s

    def publish(self, job_id: str, event: dict[str, Any]) -> None:
        data = json.dumps({**event, "job_id": job_id}, default=str)
        pipe = self.redis.pipeline()
        pipe.set(last_key(job_id, self.instance), data, ex=self.last_ttl_s)
        pipe.publish(channel(job_id, self.instance), data)
        pipe.execute()

    def emit(self, job_id: str, type_: str, **fields: Any) -> dict[str, Any]:
        """Build a complete event (``make_event``) and publish it; returns the event."""
        event = make_event(job_id, type_, **fields)
        self.publish(job_id, event)
        return event

    def last(self, job_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(last_key(job_id, self.instance))
        if raw is None:
            return None
        parsed: dict[str, Any] = json.loads(raw)
        return parsed

    def subscribe(self, job_id: str) -> JobSubscription:
        """Subscribe now (before submitting, so no event is missed); iterate with ``.events()``."""
        return JobSubscription(self.redis, job_id, self.instance)

    def listen(self, job_id: str, timeout_s: float) -> Iterator[dict[str, Any]]:
        """Events of ``job_id`` until a terminal one or ``timeout_s``. Subscribes on first ``next()``:
        if the job may already be over, check ``last(job_id)`` too."""
        with self.subscribe(job_id) as sub:
            yield from sub.events(timeout_s)
