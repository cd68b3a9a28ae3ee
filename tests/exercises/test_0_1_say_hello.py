"""Exercise 0.1: answer "hello" and tell the others who arrived."""

from __future__ import annotations

import socketio

from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import Stage

EXERCISE = "0.1"


def install(implementation: Implementation, sio: socketio.AsyncServer) -> None:
    implementation.register_greeter(sio)


async def test_hello_is_answered_with_a_greeting(
    impl: Implementation, reference: Implementation
) -> None:
    """'hello' is answered with a greeting"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("ann")
        await stage.call("ann", "hello", "Ann")

    await check_against_reference(impl, reference, install, scenario)


async def test_everyone_else_hears_who_arrived(
    impl: Implementation, reference: Implementation
) -> None:
    """everyone else hears who arrived, the sender does not"""

    async def scenario(stage: Stage) -> None:
        for name in ("ann", "ben", "cleo"):
            await stage.connect(name)
        await stage.call("ben", "hello", "Ben")
        await stage.call("cleo", "hello", "Cleo")

    await check_against_reference(impl, reference, install, scenario)
