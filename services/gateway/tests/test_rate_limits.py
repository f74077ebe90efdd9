"""Token buckets per user and per address: 429 with Retry-After once a bucket is empty, refill over time,
one atomic step per request (a Lua script on a real Redis, WATCH/MULTI on the in-process stand-in)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from gateway_fakes import ApiClient, FakeBackends, accounts
from gridtwin.store.redis import make_redis
from gridtwin_gateway.ratelimit import Bucket, TokenBuckets
from redis.backoff import NoBackoff
from redis.retry import Retry

REAL_URL = "redis://127.0.0.1:6379/15"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.redis)])
def client(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    r = make_redis(None if request.param == "fake" else REAL_URL)
    try:
        r.ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"Redis not reachable: {exc}")
    yield r
    r.close()


def test_bucket_arithmetic(client: redis.Redis) -> None:
    clock = Clock()
    buckets = TokenBuckets(client, clock)
    key = f"gridtwin-test:{uuid.uuid4().hex}:rl"
    user, ip = Bucket(f"{key}:user", 2.0, 3), Bucket(f"{key}:ip", 100.0, 100)
    assert [buckets.charge([user, ip]).allowed for _ in range(3)] == [True, True, True]
    refused = buckets.charge([user, ip])
    assert not refused.allowed and refused.bucket == user.key
    assert refused.retry_after_s == pytest.approx(0.5, abs=0.01)  # one token at 2/s
    assert float(client.hget(ip.key, "tokens") or 0) == pytest.approx(97)  # a refusal takes nothing
    clock.now += 0.5
    assert buckets.charge([user, ip]).allowed
    assert not buckets.charge([user, ip]).allowed
    clock.now += 60  # refills up to the burst, no more
    assert [buckets.charge([user]).allowed for _ in range(4)] == [True, True, True, False]
    assert 0 < client.pttl(user.key) <= 2500  # gone once full again
    client.delete(user.key, ip.key)


def test_lua_is_used_on_a_real_redis() -> None:
    real = make_redis(REAL_URL)
    assert TokenBuckets(real)._lua
    assert not TokenBuckets(make_redis(None))._lua


def test_redis_down_lets_requests_through() -> None:
    dead = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    buckets = TokenBuckets(dead)
    assert buckets.charge([Bucket("k", 1.0, 1)]).allowed
    started = time.monotonic()
    assert all(buckets.charge([Bucket("k", 1.0, 1)]).allowed for _ in range(100))
    assert time.monotonic() - started < 0.1  # not asked again for a while


def _limited(gateway: Callable[..., ApiClient], **limits: float) -> ApiClient:
    return gateway(instance_id=f"rl-{uuid.uuid4().hex[:12]}", **limits)


def test_user_bucket_gives_429_with_retry_after(
    gateway: Callable[..., ApiClient], tester_token: str, fake_backends: FakeBackends
) -> None:
    api = _limited(gateway, rate_limit_per_s=0.5, rate_limit_burst=3)
    api.use_token(tester_token)
    codes = [api.get("/api/v1/feeders").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = api.get("/api/v1/feeders")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RESOURCE_EXHAUSTED"
    assert refused.json()["error"]["details"][0]["where"] == "user"
    assert int(refused.headers["retry-after"]) == 2  # one token at 0.5/s
    rows, _ = accounts(fake_backends.settings).audit_entries(action="GET /api/v1/feeders", outcome="denied")
    assert rows and rows[0]["status"] == 429 and rows[0]["actor"] == "tester"
    assert rows[0]["detail"]["limit"] == "user"


def test_address_bucket_covers_anonymous_and_bad_credentials(gateway: Callable[..., ApiClient]) -> None:
    api = _limited(gateway, rate_limit_ip_per_s=0.2, rate_limit_ip_burst=4)
    assert [api.get("/healthz").status_code for _ in range(2)] == [200, 200]
    api.use_token("forged.token.here")
    assert api.get("/api/v1/feeders").status_code == 401
    assert api.post("/api/v1/auth/token", data={"username": "a", "password": "b"}).status_code == 401
    flood = api.get("/api/v1/feeders")
    assert flood.status_code == 429 and flood.json()["error"]["details"][0]["where"] == "address"
    assert int(flood.headers["retry-after"]) == 5


@pytest.mark.redis
def test_gateway_on_a_real_redis(gateway: Callable[..., ApiClient], tester_token: str) -> None:
    try:
        make_redis(REAL_URL).ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"Redis not reachable: {exc}")
    api = _limited(gateway, redis_url=REAL_URL, rate_limit_per_s=0.5, rate_limit_burst=2)
    api.use_token(tester_token)
    assert [api.get("/api/v1/feeders").status_code for _ in range(3)] == [200, 200, 429]
