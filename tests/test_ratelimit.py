"""Rate limits: the in-memory window, the app's 429s with Retry-After, and a real Redis shared by limiters."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.api.app import create_app
from assistant.ratelimit import MemoryRateLimiter, RedisRateLimiter, limiter_from_settings
from assistant.service import Assistant
from tests.conftest import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the memory backend ----------------------------------------------------------------------------
def test_memory_allows_the_limit_then_refuses_with_retry_after() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(3, window=60, clock=clock)
    assert [limiter.allow("a") for _ in range(3)] == [(True, 0)] * 3
    clock.now += 20.2
    allowed, retry_after = limiter.allow("a")
    assert not allowed and retry_after == 40  # ceil(60 - 20.2)
    clock.now += 39.5
    assert limiter.allow("a") == (False, 1)  # never 0 while refused


def test_memory_window_resets_and_keys_are_independent() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(1, window=60, clock=clock)
    assert limiter.allow("a")[0] and not limiter.allow("a")[0]
    assert limiter.allow("b")[0]  # another client has its own window
    clock.now += 60
    assert limiter.allow("a") == (True, 0)  # a new window
    assert not limiter.allow("a")[0]


def test_memory_limit_zero_switches_limiting_off() -> None:
    limiter = MemoryRateLimiter(0)
    assert all(limiter.allow("a")[0] for _ in range(1000))


def test_memory_counts_exactly_under_concurrency() -> None:
    limiter = MemoryRateLimiter(50, window=60)
    results: list[bool] = []
    lock = threading.Lock()

    def hit() -> None:
        for _ in range(20):
            allowed, _ = limiter.allow("shared")
            with lock:
                results.append(allowed)

    threads = [threading.Thread(target=hit) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 200 and results.count(True) == 50


def test_memory_stays_bounded_with_many_clients() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(1, window=60, clock=clock, max_keys=100)
    for i in range(1000):
        assert limiter.allow(f"client-{i}")[0]
    assert len(limiter._windows) <= 100
    assert not limiter.allow("client-999")[0]  # the newest windows are kept


# --- the app ---------------------------------------------------------------------------------------
def limited_client(assistant: Assistant, data_dir: Path, limit: int, **extra: Any) -> TestClient:
    settings = assistant.settings.model_copy(
        update={"data_dir": data_dir, "rate_limit_per_minute": limit, **extra}
    )
    return TestClient(create_app(settings, assistant=assistant), raise_server_exceptions=False)


def test_the_app_answers_429_with_retry_after_after_n_requests(
    fixture_assistant: Assistant, tmp_path: Path
) -> None:
    client = limited_client(fixture_assistant, tmp_path / "app", 3)
    for _ in range(3):
        assert client.post("/v1/chat", json={"message": "Hallo!"}).status_code == 200
    refused = client.post("/v1/chat", json={"message": "Hallo!"})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    body = refused.json()
    assert body["error"] == "rate_limited" and "3 requests in 60 seconds" in body["detail"]
    # the stream shares the chat bucket; invalid requests are counted before they are validated
    assert client.post("/v1/chat/stream", json={"message": "Hallo!"}).status_code == 429
    assert client.post("/v1/chat", json={"message": ""}).status_code == 429
    # another client (IP) has its own bucket; GET endpoints are not limited
    other = TestClient(client.app, client=("10.0.0.7", 40000))
    assert other.post("/v1/chat", json={"message": "Hallo!"}).status_code == 200
    assert client.get("/healthz").status_code == 200


def test_feedback_has_its_own_limit(fixture_assistant: Assistant, tmp_path: Path) -> None:
    client = limited_client(fixture_assistant, tmp_path / "app", 2)
    conversation = client.post("/v1/chat", json={"message": "Hallo!"}).json()["conversation_id"]
    feedback = {"conversation_id": conversation, "message_index": 1, "rating": "up"}
    assert [client.post("/v1/feedback", json=feedback).status_code for _ in range(3)] == [201, 201, 429]
    assert client.post("/v1/chat", json={"message": "Hallo!"}).status_code == 200  # chat: 2nd of 2


def test_buckets_are_per_known_profile(fixture_assistant: Assistant, tmp_path: Path) -> None:
    client = limited_client(fixture_assistant, tmp_path / "app", 1)
    assert client.post("/v1/chat", json={"message": "Hallo!"}).status_code == 200
    partner = client.post("/v1/chat", json={"message": "Hallo!", "profile": "regio-mbo-demo"})
    assert partner.status_code == 200
    assert client.post("/v1/chat", json={"message": "Hallo!", "profile": "default"}).status_code == 429
    # a made-up profile name does not open a fresh bucket: it counts as the default one
    assert client.post("/v1/chat", json={"message": "Hallo!", "profile": "x1"}).status_code == 429


# --- Redis -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A real redis-server on a free loopback port, without persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: apt-get install -y redis-server (.ci/run does this)")
    import redis

    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)
    try:
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def fresh_redis(redis_url: str) -> str:
    import redis

    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    return redis_url


def test_two_redis_limiters_share_one_count(fresh_redis: str) -> None:
    first = RedisRateLimiter(3, window=60, url=fresh_redis)
    second = RedisRateLimiter(3, window=60, url=fresh_redis)
    assert first.allow("client")[0] and second.allow("client")[0] and first.allow("client")[0]
    allowed, retry_after = second.allow("client")
    assert not allowed and 1 <= retry_after <= 60
    assert not first.allow("client")[0]
    assert second.allow("someone-else")[0]
    ttl = first.client.pttl("assistant:ratelimit:client")
    assert 0 < ttl <= 60_000  # the window expires by itself: no key lives forever


def test_redis_window_expires(fresh_redis: str) -> None:
    limiter = RedisRateLimiter(1, window=1, url=fresh_redis)
    assert limiter.allow("k")[0]
    assert limiter.allow("k") == (False, 1)
    time.sleep(1.1)
    assert limiter.allow("k") == (True, 0)


def test_two_apps_over_one_redis_share_the_limit(
    fixture_assistant: Assistant, tmp_path: Path, fresh_redis: str
) -> None:
    one = limited_client(fixture_assistant, tmp_path / "one", 2, redis_url=fresh_redis)
    two = limited_client(fixture_assistant, tmp_path / "two", 2, redis_url=fresh_redis)
    assert isinstance(one.app.state.rate_limiter, RedisRateLimiter)  # type: ignore[attr-defined]
    assert one.post("/v1/chat", json={"message": "Hallo!"}).status_code == 200
    assert two.post("/v1/chat", json={"message": "Hallo!"}).status_code == 200
    refused = one.post("/v1/chat", json={"message": "Hallo!"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert two.post("/v1/chat", json={"message": "Hallo!"}).status_code == 429
    import redis

    with redis.Redis.from_url(fresh_redis) as client:
        keys = [k.decode() for k in client.keys("*")]
    assert keys and not any("testclient" in k for k in keys)  # client IPs are hashed


def test_redis_down_fails_open() -> None:
    limiter = RedisRateLimiter(1, window=60, url=f"redis://127.0.0.1:{free_port()}/0")
    assert limiter.allow("k") == (True, 0) and limiter.allow("k") == (True, 0)


def test_settings_choose_the_backend(fixture_assistant: Assistant, fresh_redis: str) -> None:
    settings = fixture_assistant.settings
    assert isinstance(limiter_from_settings(settings), MemoryRateLimiter)
    chosen = limiter_from_settings(settings.model_copy(update={"redis_url": fresh_redis}))
    assert isinstance(chosen, RedisRateLimiter) and chosen.limit == settings.rate_limit_per_minute
