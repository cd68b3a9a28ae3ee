"""Exercise 4.3: spot the bug, room-level authorization for the ops room."""

from __future__ import annotations

import time

import socketio

from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import Stage
from roomkit.tokens import issue_user_token

EXERCISE = "4.3"
SECRET = "exercise-4.3-user-token-signing-secret-0123456789"
OPERATORS = {"olga", "oscar"}
OPS = "ops"


def install(implementation: Implementation, sio: socketio.AsyncServer) -> None:
    implementation.register_staff_chat(sio, SECRET, set(OPERATORS))


def token(name: str, secret: str = SECRET, **options: float) -> dict[str, str]:
    return {"token": issue_user_token(name, secret, **options)}


async def join(stage: Stage, name: str, *rooms: str) -> None:
    await stage.connect(name, "/staff", auth=token(name))
    for room in rooms:
        await stage.call(name, "join room", room)


async def test_a_non_operator_cannot_join_ops(
    impl: Implementation, reference: Implementation
) -> None:
    """a staff member who is not an operator cannot join ops, and ops hears nothing of it"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "olga", OPS)
        await join(stage, "mallory", OPS)

    await check_against_reference(impl, reference, install, scenario)


async def test_ops_messages_reach_operators_only(
    impl: Implementation, reference: Implementation
) -> None:
    """what operators write in ops reaches operators only"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "olga", OPS)
        await join(stage, "oscar", OPS)
        await join(stage, "mallory", OPS)
        await stage.call("olga", "message", {"room": OPS, "text": "root password rotated"})
        await stage.call("mallory", "message", {"room": OPS, "text": "anyone?"})

    await check_against_reference(impl, reference, install, scenario)


async def test_other_rooms_stay_open_to_all_staff(
    impl: Implementation, reference: Implementation
) -> None:
    """other rooms stay open to all staff, operators included"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "mallory", "lunch")
        await join(stage, "olga", "lunch", OPS)
        await stage.call("mallory", "message", {"room": "lunch", "text": "pizza at noon"})
        await stage.call("olga", "message", {"room": "lunch", "text": "count me in"})

    await check_against_reference(impl, reference, install, scenario)


async def test_only_members_write(impl: Implementation, reference: Implementation) -> None:
    """writing to a room still needs membership"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "mallory", "lunch")
        await join(stage, "olga")
        await stage.call("olga", "message", {"room": "lunch", "text": "not a member yet"})

    await check_against_reference(impl, reference, install, scenario)


async def test_namespace_authentication_is_kept(
    impl: Implementation, reference: Implementation
) -> None:
    """connecting still needs a valid token: no auth, no token, forged or expired: refused"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("nobody", "/staff", auth={})
        await stage.connect("tokenless", "/staff")
        await stage.connect("forger", "/staff", auth=token("olga", "a-different-secret-" * 3))
        await stage.connect("late", "/staff", auth=token("oscar", ttl=60, now=time.time() - 3600))
        await join(stage, "oscar", OPS)

    await check_against_reference(impl, reference, install, scenario)
