"""Token buckets: how many events a connection, or a client address, may send, and how fast."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["AddressBuckets", "SharedBuckets", "TokenBucket"]


class TokenBucket:
    """Allow bursts of ``burst`` events, refilled at ``rate`` events per second.

    :param rate: tokens added per second.
    :param burst: the bucket's capacity; it starts full.
    :param clock: returns the current time in seconds. Default ``time.monotonic``.
    """

    __slots__ = ("_clock", "_stamp", "_tokens", "burst", "rate")

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()

    def take(self) -> bool:
        """Spend one token; False (spending nothing) when the bucket is empty."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def available(self) -> float:
        """Tokens in the bucket now, without spending any."""
        return min(self.burst, self._tokens + (self._clock() - self._stamp) * self.rate)


class SharedBuckets:
    """One :class:`TokenBucket` per key (a client address), shared by every
    holder of that key and dropped when the last one releases it.

    :param rate: each bucket's refill, tokens per second.
    :param burst: each bucket's capacity.
    """

    __slots__ = ("_buckets", "burst", "rate")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[TokenBucket, int]] = {}

    def acquire(self, key: str) -> TokenBucket:
        """The bucket of ``key``, created full for its first holder."""
        bucket, holders = self._buckets.get(key) or (TokenBucket(self.rate, self.burst), 0)
        self._buckets[key] = (bucket, holders + 1)
        return bucket

    def release(self, key: str) -> None:
        """One holder of ``key`` is gone; the last one takes the bucket along."""
        entry = self._buckets.get(key)
        if entry is None:
            return
        bucket, holders = entry
        if holders <= 1:
            del self._buckets[key]
        else:
            self._buckets[key] = (bucket, holders - 1)

    def __len__(self) -> int:
        return len(self._buckets)


class AddressBuckets:
    """One :class:`TokenBucket` per client address, kept while it matters.

    A bucket that has refilled completely is the same as no bucket, so past
    ``max_addresses`` those are forgotten first, then the oldest: the table
    stays bounded whatever addresses the clients come from.

    :param rate: each bucket's refill, tokens per second.
    :param burst: each bucket's capacity; a new address starts with a full one.
    :param max_addresses: addresses tracked at once. Default 10000.
    :param clock: returns the current time in seconds. Default ``time.monotonic``.
    """

    __slots__ = ("_buckets", "_clock", "burst", "max_addresses", "rate")

    def __init__(
        self,
        rate: float,
        burst: int,
        max_addresses: int = 10_000,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_addresses = max_addresses
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def get(self, address: str) -> TokenBucket | None:
        """The bucket of ``address``, or None when it has none (a full one)."""
        return self._buckets.get(address)

    def take(self, address: str) -> bool:
        """Spend one of ``address``'s tokens; False (spending nothing) when it has none."""
        bucket = self._buckets.get(address)
        if bucket is None:
            self._forget()
            bucket = self._buckets[address] = TokenBucket(self.rate, self.burst, clock=self._clock)
        return bucket.take()

    def _forget(self) -> None:
        if len(self._buckets) < self.max_addresses:
            return
        for address, bucket in list(self._buckets.items()):
            if bucket.available() >= self.burst:
                del self._buckets[address]
        while len(self._buckets) >= self.max_addresses:
            del self._buckets[next(iter(self._buckets))]

    def __len__(self) -> int:
        return len(self._buckets)
