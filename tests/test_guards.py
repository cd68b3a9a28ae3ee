"""The small pieces behind the abuse guards, with a fake clock: bookkeeping, not timing."""

from __future__ import annotations

import logging

import pytest

from roomkit.admin import AttemptLimiter
from roomkit.engine import client_address, host_allowed
from roomkit.logthrottle import LogThrottle
from roomkit.ratelimit import SharedBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_log_throttle_writes_one_line_per_kind_and_counts_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="roomkit.test")
    clock = Clock()
    throttle = LogThrottle(logging.getLogger("roomkit.test"), 10.0, clock=clock)
    written = [throttle.log(logging.INFO, "a", "line %d", i) for i in range(5)]
    assert throttle.log(logging.INFO, "b", "other kind")
    clock.now = 10.5
    assert throttle.log(logging.INFO, "a", "line %d", 5)
    assert written == [True, False, False, False, False]
    assert [r.getMessage() for r in caplog.records] == [
        "line 0",
        "other kind",
        "line 5 (4 more like this left out)",
    ]


@pytest.mark.parametrize(
    ("peer", "header", "seen"),
    [
        ("10.0.0.5", "1.2.3.4", "1.2.3.4"),  # through the proxy
        ("10.0.0.5", "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # a forged hop on the left
        ("10.0.0.5", "1.2.3.4, 10.0.0.6", "1.2.3.4"),  # two proxies
        ("10.0.0.5", None, "10.0.0.5"),
        ("9.9.9.9", "1.2.3.4", "9.9.9.9"),  # not a proxy: the header is ignored
    ],
)
def test_client_address_trusts_only_the_proxies(peer: str, header: str | None, seen: str) -> None:
    assert client_address(peer, header, {"10.0.0.5", "10.0.0.6"}) == seen


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:8000", True),
        ("[::1]:8000", True),
        ("localhost:8000", True),
        ("LOCALHOST", True),
        ("chat.example.org", True),
        ("Chat.Example.Org:443", True),
        ("evil.example:8000", False),
        ("127.0.0.1.evil.example", False),
        ("", False),
    ],
)
def test_host_allowed(host: str, allowed: bool) -> None:
    assert host_allowed(host, {"chat.example.org"}) is allowed


def test_shared_buckets_live_while_someone_holds_them() -> None:
    buckets = SharedBuckets(rate=1e-6, burst=2)
    first = buckets.acquire("1.2.3.4")
    assert buckets.acquire("1.2.3.4") is first
    assert first.take()
    assert first.take()
    assert not first.take()
    buckets.release("1.2.3.4")
    assert len(buckets) == 1
    buckets.release("1.2.3.4")
    assert len(buckets) == 0
    assert buckets.acquire("1.2.3.4").take()  # a new holder starts full


def test_attempt_limiter_forgets_refilled_addresses_first() -> None:
    limiter = AttemptLimiter(rate=1e-6, burst=1, max_addresses=2)
    limiter.failed("a")
    assert limiter.blocked("a")
    assert not limiter.blocked("b")
    limiter.failed("b")
    limiter.failed("c")  # over the bound: the oldest goes
    assert not limiter.blocked("a")
    assert limiter.blocked("b")
    assert limiter.blocked("c")
