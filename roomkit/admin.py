"""The ``/admin`` namespace: token-protected system messages and live metrics."""

from __future__ import annotations

import hmac

from roomkit.errors import Refused
from roomkit.events import EventNamespace, EventSpec, Reply
from roomkit.middleware import Handshake, Middleware
from roomkit.ratelimit import AddressBuckets
from roomkit.settings import Limits
from roomkit.validation import bound, system_text

__all__ = ["METRICS_ROOM", "TOO_MANY_ATTEMPTS", "AdminNamespace", "AttemptLimiter", "require_token"]

METRICS_ROOM = "metrics"


TOO_MANY_ATTEMPTS = "too many wrong tokens from your address: try again later"


class AttemptLimiter:
    """Wrong tokens allowed per client address: a token bucket each, spent by
    every wrong token; an address whose bucket is empty is refused without its
    token being checked, right or wrong, until the bucket refills.

    :param rate: wrong tokens forgiven per second.
    :param burst: wrong tokens allowed back to back.
    :param max_addresses: addresses tracked at once; beyond it, fully refilled
        buckets and then the oldest are forgotten. Default 10000.
    """

    __slots__ = ("_buckets",)

    def __init__(self, rate: float, burst: int, max_addresses: int = 10_000) -> None:
        self._buckets = AddressBuckets(rate, burst, max_addresses)

    def blocked(self, address: str) -> bool:
        """Whether ``address`` has used up its wrong tokens for now."""
        bucket = self._buckets.get(address)
        return bucket is not None and bucket.available() < 1

    def failed(self, address: str) -> None:
        """``address`` sent a wrong token."""
        self._buckets.take(address)


def require_token(expected: str, attempts: AttemptLimiter | None = None) -> Middleware:
    """A middleware that admits only handshakes whose ``auth.token`` equals ``expected``.

    The comparison takes the same time wherever the strings differ, so the
    token cannot be guessed one character at a time, and the refusal never
    repeats what the client sent.

    :param expected: the token.
    :param attempts: when given, wrong tokens are throttled per client address
        (see :class:`AttemptLimiter`). Default None: no throttle.
    """
    expected_bytes = expected.encode()

    def check_token(handshake: Handshake) -> None:
        address = handshake.remote_address
        if attempts is not None and attempts.blocked(address):
            raise Refused(TOO_MANY_ATTEMPTS)
        token = handshake.auth.get("token")
        # surrogatepass: a lone surrogate (valid JSON, not valid UTF-8) must be
        # refused like any wrong token, not crash the handshake.
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode("utf-8", "surrogatepass"), expected_bytes
        ):
            if attempts is not None:
                attempts.failed(address)
            raise Refused("Unauthorized")

    return check_token


class AdminNamespace(EventNamespace):
    """Admins connect with the token, land in room ``metrics`` and may broadcast.

    :param admin_token: the token clients must present as ``auth.token``.
    :param limits: bounds the system message's length.
    :param chat_namespace: where system messages go. Default ``"/chat"``.
    :param namespace: this namespace's name. Default ``"/admin"``.
    """

    def __init__(
        self,
        admin_token: str,
        limits: Limits,
        chat_namespace: str = "/chat",
        namespace: str = "/admin",
    ) -> None:
        super().__init__(namespace)
        self.limits = limits
        self.chat_namespace = chat_namespace
        self.refusal_log.interval = limits.log_interval
        self.attempts = AttemptLimiter(
            limits.admin_attempts_per_second, limits.admin_attempts_burst
        )
        self.use(require_token(admin_token, self.attempts))
        self.events["system message"] = EventSpec(
            self._system_message, schema=bound(system_text, limits)
        )

    async def on_accept(self, sid: str, handshake: Handshake) -> None:
        await self.enter_room(sid, METRICS_ROOM)

    async def on_disconnect(self, sid: str, reason: str = "") -> None:
        pass

    async def _system_message(self, sid: str, text: str) -> Reply:
        await self.server.emit("system message", {"text": text}, namespace=self.chat_namespace)
        return {"ok": True}
