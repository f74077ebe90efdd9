"""The Redis helper: fakeredis in-process, and a real Redis (marker redis, db 15, prefixed keys)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import fakeredis
import pytest
import redis
from gridtwin.store.redis import make_redis

REAL_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.redis)])
def client(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    r = make_redis(None if request.param == "fake" else REAL_URL)
    try:
        r.ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"Redis not reachable: {exc}")
    yield r
    r.close()


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    p = f"gridtwin-test:{uuid.uuid4().hex}:"
    yield p
    keys = list(client.scan_iter(match=p + "*"))
    if keys:
        client.delete(*keys)


def test_kinds() -> None:
    assert isinstance(make_redis(None), fakeredis.FakeRedis)
    assert isinstance(make_redis(""), fakeredis.FakeRedis)
    real = make_redis(REAL_URL)
    assert not isinstance(real, fakeredis.FakeRedis)
    assert real.connection_pool.connection_kwargs["db"] == 15
    real.close()


def test_in_process_clients_share_one_server(prefix: str) -> None:
    a, b = make_redis(None), make_redis(None)
    a.set(prefix + "k", "v")
    assert b.get(prefix + "k") == b"v"
    a.delete(prefix + "k")


def test_basic_commands(client: redis.Redis, prefix: str) -> None:
    client.set(prefix + "s", "1", ex=60)
    assert client.incr(prefix + "s") == 2
    assert 0 < client.ttl(prefix + "s") <= 60
    client.hset(prefix + "h", mapping={"a": "1", "b": "2"})
    assert client.hgetall(prefix + "h") == {b"a": b"1", b"b": b"2"}
    client.rpush(prefix + "l", "x", "y")
    assert client.lrange(prefix + "l", 0, -1) == [b"x", b"y"]


def test_pubsub(client: redis.Redis, prefix: str) -> None:
    sub = client.pubsub()  # type: ignore[no-untyped-call]
    sub.subscribe(prefix + "events")
    first = sub.get_message(timeout=1.0)
    assert first is not None and first["type"] == "subscribe"
    client.publish(prefix + "events", "hello")
    msg = sub.get_message(timeout=1.0)
    assert msg is not None and msg["data"] == b"hello"
    sub.close()
