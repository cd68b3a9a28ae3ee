"""Room creations per client address.

Rooms are a shared resource (``Limits.max_rooms_total``, 10,000 by default):
one client with 200 connections and 50 rooms each used to create all of them
in 4.3 s, after which nobody could create a room. :class:`AddressBudget` gives
each client address a token bucket of room creations, so one address fills
the server's quota only at ``rate`` rooms per second.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from roomkit.ratelimit import TokenBucket

__all__ = ["AddressBudget"]

# Past this many addresses, buckets that have refilled completely (the same as
# no bucket) are forgotten, so the table holds only recently active addresses.
PRUNE_AT = 1024


class AddressBudget:
    """A token bucket per client address.

    :param rate: tokens added per second to each address's bucket.
    :param burst: each bucket's size; a new address starts with a full one.
    :param clock: returns the current time in seconds. Default ``time.monotonic``.
    """

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[TokenBucket, float]] = {}

    def take(self, address: str) -> bool:
        """Spend one of ``address``'s tokens; False (spending nothing) when it
        has none left."""
        now = self._clock()
        entry = self._buckets.get(address)
        if entry is None:
            if len(self._buckets) >= PRUNE_AT:
                self._prune(now)
            bucket = TokenBucket(self.rate, self.burst, clock=self._clock)
        else:
            bucket = entry[0]
        taken = bucket.take()
        self._buckets[address] = (bucket, now)
        return taken

    def _prune(self, now: float) -> None:
        # A bucket last touched refill_time ago is full again: drop it.
        refill = self.burst / self.rate if self.rate > 0 else float("inf")
        for address in [a for a, (_, last) in self._buckets.items() if now - last >= refill]:
            del self._buckets[address]

    def __len__(self) -> int:
        return len(self._buckets)
