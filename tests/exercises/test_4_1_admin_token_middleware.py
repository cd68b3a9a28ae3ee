"""Exercise 4.1: a middleware that admits only the admin token, and records the role."""

from __future__ import annotations

import inspect
from typing import Any

import socketio

from roomkit.course.code_checks import require_call
from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import HandlerError, ObservedServer, Stage
from roomkit.errors import Refused
from roomkit.middleware import Handshake, Middleware, MiddlewareNamespace

EXERCISE = "4.1"
TOKEN = "Xk3-rotated-admin-token-4.1"


class AdminProbe(MiddlewareNamespace):
    """/admin with the learner's middleware; ``whoami`` answers what it recorded."""

    async def on_accept(self, sid: str, handshake: Handshake) -> None:
        await self.enter_room(sid, "metrics")

    async def on_whoami(self, sid: str, *args: Any) -> dict[str, Any]:
        return dict((await self.handshake(sid)).data)


def reported(middleware: Middleware, sio: socketio.AsyncServer) -> Middleware:
    """``middleware``, with what it raises (other than a refusal) kept for the failure
    message, as for any handler, instead of logged with a traceback per connection."""

    async def run(handshake: Handshake) -> None:
        try:
            result = middleware(handshake)
            if inspect.isawaitable(result):
                await result
        except Refused:
            raise
        except Exception as error:  # the learner's middleware may raise anything
            if isinstance(sio, ObservedServer):
                sio.handler_errors.append(HandlerError("running the middleware on /admin", error))
            raise Refused("server error") from None

    return run


def installer(token: str) -> Any:
    def install(implementation: Implementation, sio: socketio.AsyncServer) -> None:
        admin = AdminProbe("/admin")
        admin.use(reported(implementation.require_admin_token(token), sio))
        sio.register_namespace(admin)

    return install


async def test_the_token_admits_and_records_the_role(
    impl: Implementation, reference: Implementation
) -> None:
    """the right token gets in, and the middleware records the role admin"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("root", "/admin", auth={"name": "root", "token": TOKEN})
        await stage.call("root", "whoami")

    await check_against_reference(impl, reference, installer(TOKEN), scenario)


async def test_no_token_or_a_wrong_one_is_unauthorized(
    impl: Implementation, reference: Implementation
) -> None:
    """no auth, no token or a wrong token: refused with 'Unauthorized'"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("nobody", "/admin", auth={})
        await stage.connect("eve", "/admin")
        await stage.connect("mallory", "/admin", auth={"name": "mallory", "token": "guess"})
        await stage.connect("root", "/admin", auth={"token": TOKEN})

    await check_against_reference(impl, reference, installer(TOKEN), scenario)


async def test_near_misses_are_refused(impl: Implementation, reference: Implementation) -> None:
    """near misses are refused: a prefix, extra characters, another case, spaces"""

    async def scenario(stage: Stage) -> None:
        for number, token in enumerate(
            [TOKEN[:-1], TOKEN + "x", TOKEN.upper(), f" {TOKEN} ", ""], start=1
        ):
            await stage.connect(f"guesser{number}", "/admin", auth={"token": token})

    await check_against_reference(impl, reference, installer(TOKEN), scenario)


async def test_tokens_that_are_not_strings_are_refused(
    impl: Implementation, reference: Implementation
) -> None:
    """tokens that are not strings (a number, null, a list, an object) are refused, no crash"""

    async def scenario(stage: Stage) -> None:
        for number, token in enumerate([12345, None, [TOKEN], {"token": TOKEN}], start=1):
            await stage.connect(f"odd{number}", "/admin", auth={"token": token})
        await stage.connect("root", "/admin", auth={"token": TOKEN})

    await check_against_reference(impl, reference, installer(TOKEN), scenario)


async def test_non_ascii_tokens_are_refused(
    impl: Implementation, reference: Implementation
) -> None:
    """a token with non-ASCII characters is refused with 'Unauthorized', not a crash"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("eve", "/admin", auth={"token": "clé-" + TOKEN})
        await stage.connect("zoe", "/admin", auth={"token": "🔑"})
        await stage.connect("root", "/admin", auth={"token": TOKEN})

    await check_against_reference(impl, reference, installer(TOKEN), scenario)


async def test_the_token_comes_from_the_argument(
    impl: Implementation, reference: Implementation
) -> None:
    """the token is the argument, never hard-coded: 'admin-secret' is refused"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("source", "/admin", auth={"token": "admin-secret"})
        await stage.connect("root", "/admin", auth={"token": "another-deployment's-token"})
        await stage.call("root", "whoami")

    await check_against_reference(
        impl, reference, installer("another-deployment's-token"), scenario
    )


async def test_the_token_is_compared_in_constant_time(impl: Implementation) -> None:
    """the token is compared in constant time, with hmac.compare_digest"""
    require_call(
        impl,
        "require_admin_token",
        "compare_digest",
        rule="compare the token in constant time (hmac.compare_digest on bytes)",
        call=lambda: impl.require_admin_token(TOKEN),
    )
