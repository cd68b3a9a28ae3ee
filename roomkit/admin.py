"""The ``/admin`` namespace: token-protected system messages and live metrics."""

from __future__ import annotations

import hmac

from roomkit.errors import Refused
from roomkit.events import EventNamespace, EventSpec, Reply
from roomkit.middleware import Handshake, Middleware
from roomkit.settings import Limits
from roomkit.validation import bound, system_text

__all__ = ["METRICS_ROOM", "AdminNamespace", "require_token"]

METRICS_ROOM = "metrics"


def require_token(expected: str) -> Middleware:
    """A middleware that admits only handshakes whose ``auth.token`` equals ``expected``.

    The comparison takes the same time wherever the strings differ, so the
    token cannot be guessed one character at a time, and the refusal never
    repeats what the client sent.
    """
    expected_bytes = expected.encode()

    def check_token(handshake: Handshake) -> None:
        token = handshake.auth.get("token")
        # surrogatepass: a lone surrogate (valid JSON, not valid UTF-8) must be
        # refused like any wrong token, not crash the handshake.
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode("utf-8", "surrogatepass"), expected_bytes
        ):
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
        self.use(require_token(admin_token))
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
