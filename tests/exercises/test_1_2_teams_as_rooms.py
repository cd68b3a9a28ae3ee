"""Exercise 1.2: team chat with one room per team in one namespace, /teams."""

from __future__ import annotations

import socketio

from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import Stage

EXERCISE = "1.2"


def install(implementation: Implementation, sio: socketio.AsyncServer) -> None:
    implementation.register_team_chat(sio)


async def join(stage: Stage, name: str, *teams: str) -> None:
    await stage.connect(name, "/teams")
    for team in teams:
        await stage.call(name, "join team", team)


async def test_team_message_reaches_teammates_only(
    impl: Implementation, reference: Implementation
) -> None:
    """a team message reaches the teammates, and no one else"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", "red")
        await join(stage, "bob", "red")
        await join(stage, "carol", "blue")
        await stage.call("alice", "message", {"team": "red", "text": "red team, go"})

    await check_against_reference(impl, reference, install, scenario)


async def test_any_team_name_works(impl: Implementation, reference: Implementation) -> None:
    """any team name works, with no change to the server"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "dave", "green")
        await join(stage, "erin", "green")
        await stage.call("erin", "message", {"team": "green", "text": "new team, who dis"})

    await check_against_reference(impl, reference, install, scenario)


async def test_one_connection_in_several_teams(
    impl: Implementation, reference: Implementation
) -> None:
    """one connection can be in several teams and hears each of them"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", "red", "blue")
        await join(stage, "bob", "red")
        await join(stage, "carol", "blue")
        await stage.call("bob", "message", {"team": "red", "text": "from red"})
        await stage.call("carol", "message", {"team": "blue", "text": "from blue"})

    await check_against_reference(impl, reference, install, scenario)


async def test_leaving_a_team_stops_its_messages(
    impl: Implementation, reference: Implementation
) -> None:
    """after leaving a team, its messages stop"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", "red")
        await join(stage, "bob", "red")
        await stage.call("bob", "leave team", "red")
        await stage.call("alice", "message", {"team": "red", "text": "bob, are you there?"})

    await check_against_reference(impl, reference, install, scenario)


async def test_only_members_may_post(impl: Implementation, reference: Implementation) -> None:
    """only members may post to a team: others get ok false, and nothing is delivered"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", "red")
        await join(stage, "carol", "blue")
        await stage.call("carol", "message", {"team": "red", "text": "let me in"})

    await check_against_reference(impl, reference, install, scenario)


async def test_teams_are_rooms_not_namespaces(
    impl: Implementation, reference: Implementation
) -> None:
    """teams are rooms of /teams, not namespaces of their own"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("alice", "/team-red")
        await join(stage, "bob", "red")

    await check_against_reference(impl, reference, install, scenario)
