"""Token buckets in Redis: one per user and one per address, charged in ONE atomic step per request.

A bucket holds up to ``burst`` tokens and refills at ``rate`` per second; a request takes one token from
each of its buckets, or from none when one is empty (it is then refused with the seconds to wait).
Buckets live in Redis hashes ``gridtwin:{instance}:rl:{kind}:{who}`` (``tokens``, ``ts``) that expire once
full again, so every gateway replica of an installation shares them.

On a real Redis the step is a Lua script (atomic on the server); the in-process stand-in (fakeredis
without a Lua runtime) does the same arithmetic in a WATCH/MULTI transaction, retried on a concurrent
change. A Redis that cannot be reached lets requests through (logged), and is not asked again for
``PAUSE_AFTER_FAILURE_S``, so its timeouts do not slow every request: the limits protect the platform,
they must not take it down.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis

__all__ = ["Bucket", "Decision", "TokenBuckets"]

log = logging.getLogger(__name__)

_WATCH_RETRIES = 50
PAUSE_AFTER_FAILURE_S = 5.0

# KEYS: the buckets; ARGV: now, then (rate, burst) per key. Returns {allowed, wait_ms, index of the
# bucket that refused (1-based, 0 when allowed)}.
_LUA = """
local now = tonumber(ARGV[1])
local levels = {}
local wait = 0
local culprit = 0
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1])
  local ts = tonumber(state[2])
  if tokens == nil or ts == nil then
    tokens = burst
    ts = now
  end
  local elapsed = now - ts
  if elapsed < 0 then elapsed = 0 end
  tokens = math.min(burst, tokens + elapsed * rate)
  levels[i] = tokens
  if tokens < 1 then
    local w = (1 - tokens) / rate
    if w > wait then
      wait = w
      culprit = i
    end
  end
end
if culprit > 0 then
  return {0, math.ceil(wait * 1000), culprit}
end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  redis.call('HSET', key, 'tokens', tostring(levels[i] - 1), 'ts', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
end
return {1, 0, 0}
"""


@dataclass(frozen=True)
class Bucket:
    key: str
    rate: float  # tokens per second
    burst: int  # capacity


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0
    bucket: str = ""  # the key of the bucket that refused


def _level(raw: Sequence[Any], bucket: Bucket, now: float) -> float:
    tokens_raw, ts_raw = raw
    if tokens_raw is None or ts_raw is None:
        return float(bucket.burst)
    tokens, ts = float(tokens_raw), float(ts_raw)
    return min(float(bucket.burst), tokens + max(0.0, now - ts) * bucket.rate)


class TokenBuckets:
    """Charges a request to its buckets (``charge``); ``clock`` is injectable for tests."""

    def __init__(self, client: redis.Redis, clock: Callable[[], float] = time.time) -> None:
        self._redis = client
        self._clock = clock
        self._script: Any = None
        self._lua = not type(client).__module__.startswith("fakeredis")
        self._warned_at = 0.0
        self._paused_until = 0.0

    def charge(self, buckets: Sequence[Bucket]) -> Decision:
        if not buckets or time.monotonic() < self._paused_until:
            return Decision(True)
        try:
            if self._lua:
                try:
                    return self._charge_lua(buckets)
                except redis.ResponseError as exc:
                    if "unknown command" not in str(exc).lower():
                        raise
                    self._lua = False  # a server without scripting
            return self._charge_watch(buckets)
        except redis.RedisError as exc:
            now = time.monotonic()
            self._paused_until = now + PAUSE_AFTER_FAILURE_S
            if now - self._warned_at > 60:
                self._warned_at = now
                log.warning("rate limits not enforced: Redis failed (%s)", type(exc).__name__)
            return Decision(True)

    def _charge_lua(self, buckets: Sequence[Bucket]) -> Decision:
        if self._script is None:
            self._script = self._redis.register_script(_LUA)
        args: list[float | int] = [self._clock()]
        for b in buckets:
            args += [b.rate, b.burst]
        allowed, wait_ms, culprit = self._script(keys=[b.key for b in buckets], args=args)
        if int(allowed):
            return Decision(True)
        return Decision(False, int(wait_ms) / 1000.0, buckets[int(culprit) - 1].key)

    def _charge_watch(self, buckets: Sequence[Bucket]) -> Decision:
        keys = [b.key for b in buckets]
        for _ in range(_WATCH_RETRIES):
            with self._redis.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(*keys)  # type: ignore[no-untyped-call]
                    now = self._clock()
                    levels = [_level(pipe.hmget(b.key, ["tokens", "ts"]), b, now) for b in buckets]
                    waits = [
                        ((1 - lv) / b.rate, b.key) for lv, b in zip(levels, buckets, strict=True) if lv < 1
                    ]
                    if waits:
                        pipe.unwatch()
                        wait, key = max(waits)
                        return Decision(False, math.ceil(wait * 1000) / 1000.0, key)
                    pipe.multi()
                    for lv, b in zip(levels, buckets, strict=True):
                        pipe.hset(b.key, mapping={"tokens": repr(lv - 1), "ts": repr(now)})
                        pipe.pexpire(b.key, math.ceil(b.burst / b.rate * 1000) + 1000)
                    pipe.execute()
                    return Decision(True)
                except redis.WatchError:
                    continue
        # Contention beyond reason on one key: refuse briefly rather than admit unmetered.
        return Decision(False, 0.05, keys[0])
