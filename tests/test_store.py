"""The RoomStore contract, the same for MemoryStore and RedisStore.

Every test in ``TestContract`` runs against both stores; the Redis-only tests
below it cover what a single process cannot have: atomicity under concurrent
servers, dead nodes being swept, Redis being down or losing its state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis_fixtures import redis_url_for_test
from support import rooms_of

from roomkit.errors import StoreUnavailable
from roomkit.processes import RedisProcess
from roomkit.stores import store_from_url
from roomkit.stores.base import JoinResult, Member, Room, RoomStore, RoomSummary
from roomkit.stores.memory import MemoryStore
from roomkit.stores.redis import RedisStore, redacted

NODE = "node-a"


def member(sid: str, name: str) -> Member:
    return Member(sid, name, NODE)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[RoomStore]:
    if request.param == "memory":
        yield MemoryStore(node_id=NODE)
        return
    async with redis_url_for_test() as url:
        redis_store = RedisStore(url, node_id=NODE, node_ttl=5)
        await redis_store.start()
        try:
            yield redis_store
        finally:
            await redis_store.close()


class TestContract:
    async def test_create_room_makes_the_creator_its_first_member(self, store: RoomStore) -> None:
        room = Room("lobby", topic="hello", created_by="alice", created_at=100.5)
        result = await store.create_room(room, member("s1", "alice"))
        assert result == JoinResult(room, 1, already_member=False)
        assert await store.get_room("lobby") == room
        assert await store.members("lobby") == [member("s1", "alice")]

    async def test_create_room_refuses_an_existing_name(self, store: RoomStore) -> None:
        await store.create_room(Room("lobby", created_by="alice"), member("s1", "alice"))
        again = Room("lobby", topic="other", created_by="bob")
        assert await store.create_room(again, member("s2", "bob")) is None
        assert (await store.get_room("lobby")).created_by == "alice"  # type: ignore[union-attr]
        assert await store.count("lobby") == 1

    async def test_join_creates_a_public_room_named_after_the_first_member(
        self, store: RoomStore
    ) -> None:
        result = await store.join("lobby", member("s1", "alice"))
        assert result is not None
        assert (result.members, result.already_member) == (1, False)
        assert result.room.name == "lobby"
        assert result.room.created_by == "alice"
        assert not result.room.private
        assert await store.get_room("lobby") == result.room

    async def test_join_again_changes_nothing(self, store: RoomStore) -> None:
        await store.join("lobby", member("s1", "alice"))
        second = await store.join("lobby", member("s2", "bob"))
        again = await store.join("lobby", member("s2", "bob"))
        assert second is not None
        assert again is not None
        assert (second.members, second.already_member) == (2, False)
        assert second.room.created_by == "alice"  # bob joined alice's room, made no new one
        assert (again.members, again.already_member) == (2, True)
        assert await store.count("lobby") == 2

    async def test_members_are_ordered_by_name_then_sid(self, store: RoomStore) -> None:
        for sid, name in [("s3", "carol"), ("s2", "alice"), ("s9", "bob"), ("s1", "alice")]:
            await store.join("lobby", member(sid, name))
        assert await store.members("lobby") == [
            member("s1", "alice"),
            member("s2", "alice"),
            member("s9", "bob"),
            member("s3", "carol"),
        ]

    async def test_leave_returns_who_remains_and_the_last_leave_deletes_the_room(
        self, store: RoomStore
    ) -> None:
        await store.join("lobby", member("s1", "alice"))
        await store.join("lobby", member("s2", "bob"))
        assert await store.leave("lobby", "s1") == 1
        assert await store.leave("lobby", "s1") is None
        assert await rooms_of(store, "s1") == []
        assert await store.leave("lobby", "s2") == 0
        assert await store.get_room("lobby") is None
        assert await store.count("lobby") == 0
        assert await store.members("lobby") == []
        assert await store.list_rooms() == []
        assert await store.room_count() == 0

    async def test_leave_of_an_unknown_room_is_none(self, store: RoomStore) -> None:
        assert await store.leave("nowhere", "s1") is None

    async def test_forget_leaves_every_room(self, store: RoomStore) -> None:
        for name in ["b-room", "a-room", "c-room"]:
            await store.join(name, member("s1", "alice"))
        await store.join("b-room", member("s2", "bob"))
        assert await rooms_of(store, "s1") == ["a-room", "b-room", "c-room"]
        assert await store.forget("s1") == ["a-room", "b-room", "c-room"]
        assert await rooms_of(store, "s1") == []
        assert [summary.room.name for summary in await store.list_rooms()] == ["b-room"]
        assert await store.forget("s1") == []

    async def test_list_rooms_is_sorted_with_counts(self, store: RoomStore) -> None:
        await store.join("zeta", member("s1", "alice"))
        await store.join("alpha", member("s1", "alice"))
        await store.join("alpha", member("s2", "bob"))
        private = Room("mid", created_by="carol", private=True)
        await store.create_room(private, member("s3", "carol"))
        summaries = await store.list_rooms()
        assert [(s.room.name, s.members) for s in summaries] == [
            ("alpha", 2),
            ("mid", 1),
            ("zeta", 1),
        ]
        assert summaries[1] == RoomSummary(private, 1)
        assert await store.room_count() == 3

    async def test_invite_lets_a_name_into_a_private_room(self, store: RoomStore) -> None:
        room = Room("secret", created_by="alice", private=True)
        await store.create_room(room, member("s1", "alice"))
        assert await store.join("secret", member("s2", "bob")) is None
        assert await store.count("secret") == 1
        invited = await store.invite("secret", "bob")
        assert invited is not None
        assert invited.invited == frozenset({"bob"})
        assert invited.admits("bob")
        assert not invited.admits("mallory")
        joined = await store.join("secret", member("s2", "bob"))
        assert joined is not None
        assert joined.members == 2
        assert joined.room.invited == frozenset({"bob"})
        assert await store.join("secret", member("s3", "mallory")) is None

    async def test_the_creator_may_rejoin_a_private_room(self, store: RoomStore) -> None:
        await store.create_room(
            Room("secret", created_by="alice", private=True), member("s1", "alice")
        )
        result = await store.join("secret", member("s9", "alice"))
        assert result is not None
        assert result.members == 2

    async def test_invite_to_a_missing_room_is_none(self, store: RoomStore) -> None:
        assert await store.invite("nowhere", "bob") is None
        assert await store.get_room("nowhere") is None

    async def test_invites_accumulate_and_vanish_with_the_room(self, store: RoomStore) -> None:
        await store.create_room(
            Room("secret", created_by="alice", private=True), member("s1", "alice")
        )
        await store.invite("secret", "bob")
        await store.invite("secret", "carol")
        room = await store.get_room("secret")
        assert room is not None
        assert room.invited == frozenset({"bob", "carol"})
        await store.leave("secret", "s1")
        recreated = await store.join("secret", member("s2", "bob"))
        assert recreated is not None
        assert recreated.room.created_by == "bob"  # a new room, made by its first joiner
        assert not recreated.room.private
        assert recreated.room.invited == frozenset()


# -- Redis only ------------------------------------------------------------------------


class Presence:
    """The chat namespace's side of RedisStore.attach, recorded for tests."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.local: list[tuple[str, Member]] = []
        self.gone: list[tuple[str, str]] = []
        self.gone_arrived = asyncio.Event()

    def local_members(self) -> list[tuple[str, Member]]:
        return list(self.local)

    async def members_gone(self, gone: list[tuple[str, str]]) -> None:
        self.gone.extend(gone)
        self.gone_arrived.set()


def node_store(url: str, node: str, node_ttl: float = 5.0) -> RedisStore:
    return RedisStore(url, node_id=node, node_ttl=node_ttl)


@pytest.mark.redis
async def test_store_from_url_builds_a_redis_store(redis_url: str) -> None:
    built = store_from_url(redis_url, node_id="n1", node_ttl=3)
    assert isinstance(built, RedisStore)
    assert (built.node_id, built.node_ttl) == ("n1", 3)
    await built.close()


def test_redis_store_needs_a_node_id_and_a_positive_ttl() -> None:
    with pytest.raises(ValueError, match="node_id"):
        RedisStore("redis://127.0.0.1:1/0", node_id="")
    with pytest.raises(ValueError, match="node_ttl"):
        RedisStore("redis://127.0.0.1:1/0", node_id="n", node_ttl=0)


def test_passwords_never_reach_messages() -> None:
    assert redacted("redis://:hunter2@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert redacted("redis://bob:hunter2@db:6379/1") == "redis://bob:***@db:6379/1"
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert redacted("redis://h:1/0?password=s3cret&db=2") == "redis://h:1/0?password=***&db=2"
    assert redacted("unix:///tmp/r.sock?password=x") == "unix:///tmp/r.sock?password=***"
    assert redacted("redis://:pw@[::1]:6379/0") == "redis://:***@[::1]:6379/0"


@pytest.mark.redis
async def test_two_nodes_see_one_state(redis_url: str) -> None:
    a, b = node_store(redis_url, "a"), node_store(redis_url, "b")
    await a.start()
    await b.start()
    try:
        await a.create_room(Room("lobby", created_by="alice"), Member("s1", "alice", "a"))
        joined = await b.join("lobby", Member("s2", "bob", "b"))
        assert joined is not None
        assert joined.room.created_by == "alice"  # joined alice's room, made no new one
        assert [m.sid for m in await a.members("lobby")] == ["s1", "s2"]
        assert [m.node for m in await a.members("lobby")] == ["a", "b"]
        assert await b.list_rooms() == await a.list_rooms()
    finally:
        await a.close()
        await b.close()
    # A clean shutdown takes the node's members with it.
    c = node_store(redis_url, "c")
    await c.start()
    try:
        assert await c.list_rooms() == []
    finally:
        await c.close()


@pytest.mark.redis
async def test_concurrent_joins_and_leaves_keep_counts_exact(redis_url: str) -> None:
    stores = [node_store(redis_url, f"n{index}") for index in range(3)]
    for each in stores:
        await each.start()
    try:
        members = [
            (each, Member(f"{each.node_id}-{index}", f"user{index}", each.node_id))
            for each in stores
            for index in range(15)
        ]
        joins = await asyncio.gather(*(each.join("hot", m) for each, m in members))
        # One join created the room: every join saw the same creator.
        assert len({result.room.created_by for result in joins if result is not None}) == 1
        assert sorted(result.members for result in joins if result is not None) == list(
            range(1, 46)
        )
        assert await stores[0].count("hot") == 45
        lefts = await asyncio.gather(*(each.leave("hot", m.sid) for each, m in members))
        assert sorted(left for left in lefts if left is not None) == list(range(45))
        assert await stores[1].get_room("hot") is None
        assert await stores[2].room_count() == 0
    finally:
        for each in stores:
            await each.close()


@pytest.mark.redis
async def test_concurrent_creates_of_one_name_admit_one_creator(redis_url: str) -> None:
    stores = [node_store(redis_url, f"n{index}") for index in range(3)]
    for each in stores:
        await each.start()
    try:
        results = await asyncio.gather(
            *(
                each.create_room(
                    Room("race", created_by=each.node_id, private=True),
                    Member(f"sid-{each.node_id}", each.node_id, each.node_id),
                )
                for each in stores
            )
        )
        winners = [result for result in results if result is not None]
        assert len(winners) == 1
        assert await stores[0].members("race") == [
            Member(
                f"sid-{winners[0].room.created_by}",
                winners[0].room.created_by,
                winners[0].room.created_by,
            )
        ]
    finally:
        for each in stores:
            await each.close()


@pytest.mark.redis
async def test_a_silent_node_is_swept_and_reported(redis_url: str) -> None:
    watcher_presence = Presence("watcher")
    watcher = node_store(redis_url, "watcher", node_ttl=0.5)
    watcher.attach(watcher_presence)
    doomed = node_store(redis_url, "doomed", node_ttl=0.5)
    await watcher.start()
    await doomed.start()
    await watcher.join("lobby", Member("w1", "walt", "watcher"))
    await doomed.join("lobby", Member("d1", "dora", "doomed"))
    await doomed.join("doomed-only", Member("d1", "dora", "doomed"))
    # Simulate SIGKILL: the heartbeat stops and nothing is cleaned up.
    assert doomed._ticker is not None
    doomed._ticker.cancel()
    await doomed.redis.aclose()
    try:
        await asyncio.wait_for(watcher_presence.gone_arrived.wait(), timeout=3)
        assert sorted(watcher_presence.gone) == [("doomed-only", "d1"), ("lobby", "d1")]
        assert [m.sid for m in await watcher.members("lobby")] == ["w1"]
        assert [s.room.name for s in await watcher.list_rooms()] == ["lobby"]
        assert await rooms_of(watcher, "d1") == []
    finally:
        await watcher.close()


@pytest.mark.redis
async def test_calls_raise_store_unavailable_while_redis_is_down(
    redis_process: RedisProcess,
) -> None:
    store = node_store(redis_process.url, "n1")
    await store.start()
    try:
        await store.join("lobby", Member("s1", "alice", "n1"))
        await redis_process.stop()
        with pytest.raises(StoreUnavailable, match=r"Redis at redis://127\.0\.0\.1"):
            await store.join("lobby", Member("s2", "bob", "n1"))
        with pytest.raises(StoreUnavailable):
            await store.members("lobby")
        with pytest.raises(StoreUnavailable):
            await store.list_rooms()
    finally:
        await store.close()  # logs instead of raising: Redis is gone


@pytest.mark.redis
async def test_start_fails_clearly_without_redis(redis_process: RedisProcess) -> None:
    url = redis_process.url
    await redis_process.stop()
    store = node_store(url, "n1")
    with pytest.raises(StoreUnavailable):
        await store.start()
    await store.redis.aclose()


@pytest.mark.redis
async def test_state_lost_by_redis_is_rebuilt_from_local_members(
    redis_process: RedisProcess,
) -> None:
    presence = Presence("n1")
    store = node_store(redis_process.url, "n1")
    store.attach(presence)
    await store.start()
    try:
        alice, bob = Member("s1", "alice", "n1"), Member("s2", "bob", "n1")
        secret = Room("secret", topic="shh", created_by="alice", private=True)
        await store.create_room(secret, alice)
        await store.invite("secret", "bob")
        await store.join("secret", bob)
        await store.join("lobby", bob)
        presence.local = [("secret", alice), ("secret", bob), ("lobby", bob)]
        before = await store.list_rooms()
        recoveries = store.recoveries

        await redis_process.restart()
        await store.wait_recovered(recoveries, timeout=5)

        assert await store.list_rooms() == before
        assert await store.members("secret") == [alice, bob]
        restored = await store.get_room("secret")
        assert restored is not None
        assert restored.invited == frozenset({"bob"})
        assert await store.join("secret", Member("s3", "mallory", "n1")) is None
    finally:
        await store.close()


@pytest.mark.redis
async def test_a_change_after_state_loss_restores_first(redis_process: RedisProcess) -> None:
    presence = Presence("n1")
    store = node_store(redis_process.url, "n1", node_ttl=60)  # no heartbeat during the test
    store.attach(presence)
    await store.start()
    try:
        alice = Member("s1", "alice", "n1")
        await store.create_room(Room("secret", created_by="alice", private=True), alice)
        presence.local = [("secret", alice)]
        recoveries = store.recoveries
        await redis_process.restart()
        # The join finds this node's heartbeat gone and restores before joining,
        # so the private room is not recreated as a public one.
        assert await store.join("secret", Member("s2", "mallory", "n1")) is None
        assert store.recoveries == recoveries + 1
        assert await store.members("secret") == [alice]
    finally:
        await store.close()


@pytest.mark.redis
async def test_reconcile_drops_entries_of_connections_that_are_gone(redis_url: str) -> None:
    presence = Presence("n1")
    store = node_store(redis_url, "n1")
    store.attach(presence)
    await store.start()
    try:
        stale = Member("s-stale", "ghost", "n1")
        await store.join("lobby", stale)
        await store.join("lobby", Member("s-live", "alice", "n1"))
        presence.local = [("lobby", Member("s-live", "alice", "n1"))]
        # Lose this node's heartbeat, as if it had been swept after a stall.
        await store.redis.delete(f"roomkit:alive:{store.node_id}")
        await store.join("other", Member("s-live", "alice", "n1"))
        assert [m.sid for m in await store.members("lobby")] == ["s-live"]
        assert await rooms_of(store, "s-stale") == []
    finally:
        await store.close()
