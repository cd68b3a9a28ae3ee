"""The Lua scripts of the Redis store: every change to roomkit's keys is one of them.

Why Lua: Redis runs a script atomically (no other client's command runs in
between) and in one round trip. A check and the change it allows, such as "no
room of this name exists, so create it" or "this node is still alive, so let it
change", can therefore not be split by another server's change, and a client
that dies mid-call cannot leave half a change behind. ``MULTI``/``EXEC`` alone
cannot do that: its commands cannot depend on what an earlier one read.

The store registers ``PRELUDE + body`` for each script (:data:`SCRIPTS`) and
always passes the key prefix as ``ARGV[1]`` and this node's id as ``ARGV[2]``.
What each script guarantees atomically:

* :data:`PRELUDE`: helpers. ``drop`` removes one membership from all three
  places it is recorded and, with the last member, the room, its invite list
  and its name in the set of rooms; ``add`` records a membership; ``alive``
  tells whether a node's heartbeat key exists.
* :data:`CREATE`: creates the room with its creator as first member only if no
  room of that name exists, so two creators cannot both win.
* :data:`JOIN`: creates a missing (public) room, checks a private room's
  admission (creator or invited) and adds the member in one step, so an
  invite list or a last leave cannot change between the check and the join.
* :data:`LEAVE`, :data:`FORGET`: remove one membership, or every membership of
  a connection, deleting rooms left empty, so a join never lands in a room
  that is being deleted.
* :data:`INVITE`: adds a name to an existing room's invite list and answers the
  room and the list as they are after it.
* :data:`HEARTBEAT`: renews this node's heartbeat only while it exists; renewing
  a missing one would hide that Redis lost this node's state.
* :data:`SWEEP`: removes the members of every node whose heartbeat expired, and
  the node, so two nodes sweeping at once never announce a member twice.
* :data:`RESTORE_ROOMS`, :data:`RESTORE_MEMBERS`: write back the rooms and
  memberships this node remembers after Redis lost them; the first also
  recreates the heartbeat.
* :data:`DEPART`: on a clean shutdown, removes every member of this node and
  its heartbeat.

The changes a client asks for (create, join, leave, forget, invite) first check
this node's heartbeat and answer :data:`LOST` without changing anything when it
is missing (Redis restarted empty, or this node was swept after a stall): the
node then reconciles and runs the change again, so no change lands in a Redis
that lost the rest of this node's memberships.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = [
    "CREATE",
    "DEPART",
    "FORGET",
    "HEARTBEAT",
    "INVITE",
    "JOIN",
    "LEAVE",
    "LOST",
    "PRELUDE",
    "RESTORE_MEMBERS",
    "RESTORE_ROOMS",
    "SCRIPTS",
    "SWEEP",
]

LOST: Final = "lost"  # a script's answer when this node's heartbeat key is missing

# Shared by the scripts: keys are built from the prefix in ARGV[1]; this store
# targets one Redis (or one primary), not Redis Cluster (see docs/scaling.md).
PRELUDE: Final = """
local p = ARGV[1]
local function drop(name, sid)
  local mkey = p .. ':members:' .. name
  local entry = redis.call('HGET', mkey, sid)
  if not entry then return nil end
  redis.call('HDEL', mkey, sid)
  local skey = p .. ':sid:' .. sid
  redis.call('SREM', skey, name)
  if redis.call('SCARD', skey) == 0 then
    redis.call('SREM', p .. ':node:' .. cjson.decode(entry).node, sid)
  end
  local left = redis.call('HLEN', mkey)
  if left == 0 then
    redis.call('DEL', p .. ':room:' .. name, p .. ':invited:' .. name)
    redis.call('SREM', p .. ':rooms', name)
  end
  return left
end
local function add(name, sid, entry, node)
  redis.call('HSET', p .. ':members:' .. name, sid, entry)
  redis.call('SADD', p .. ':sid:' .. sid, name)
  redis.call('SADD', p .. ':node:' .. node, sid)
  return redis.call('HLEN', p .. ':members:' .. name)
end
local function alive(node)
  return redis.call('EXISTS', p .. ':alive:' .. node) == 1
end
"""

# ARGV: prefix, this node, room, sid, member entry, member's node, room JSON
CREATE: Final = """
if not alive(ARGV[2]) then return 'lost' end
local rkey = p .. ':room:' .. ARGV[3]
if redis.call('EXISTS', rkey) == 1 then return false end
redis.call('SET', rkey, ARGV[7])
redis.call('SADD', p .. ':rooms', ARGV[3])
return add(ARGV[3], ARGV[4], ARGV[5], ARGV[6])
"""

# ARGV: prefix, this node, room, sid, member entry, member's node, member's
# display name, JSON of the public room to create when it does not exist
JOIN: Final = """
if not alive(ARGV[2]) then return 'lost' end
local name, sid = ARGV[3], ARGV[4]
local rkey = p .. ':room:' .. name
local ikey = p .. ':invited:' .. name
local room = redis.call('GET', rkey)
local created = 0
if not room then
  room = ARGV[8]
  created = 1
  redis.call('SET', rkey, room)
  redis.call('SADD', p .. ':rooms', name)
end
local mkey = p .. ':members:' .. name
if redis.call('HEXISTS', mkey, sid) == 1 then
  return {room, redis.call('SMEMBERS', ikey), redis.call('HLEN', mkey), 0, 1}
end
local meta = cjson.decode(room)
if meta.private and ARGV[7] ~= meta.created_by
    and redis.call('SISMEMBER', ikey, ARGV[7]) == 0 then
  return false
end
local count = add(name, sid, ARGV[5], ARGV[6])
return {room, redis.call('SMEMBERS', ikey), count, created, 0}
"""

# ARGV: prefix, this node, room, sid
LEAVE: Final = """
if not alive(ARGV[2]) then return 'lost' end
return drop(ARGV[3], ARGV[4])
"""

# ARGV: prefix, this node, sid
FORGET: Final = """
if not alive(ARGV[2]) then return 'lost' end
local rooms = redis.call('SMEMBERS', p .. ':sid:' .. ARGV[3])
for _, name in ipairs(rooms) do drop(name, ARGV[3]) end
return rooms
"""

# ARGV: prefix, this node, room, invitee
INVITE: Final = """
if not alive(ARGV[2]) then return 'lost' end
local room = redis.call('GET', p .. ':room:' .. ARGV[3])
if not room then return false end
local ikey = p .. ':invited:' .. ARGV[3]
redis.call('SADD', ikey, ARGV[4])
return {room, redis.call('SMEMBERS', ikey)}
"""

# ARGV: prefix, this node, heartbeat milliseconds. Renews the heartbeat only
# when it exists: a missing one means this node must reconcile first.
HEARTBEAT: Final = """
local key = p .. ':alive:' .. ARGV[2]
if redis.call('PEXPIRE', key, ARGV[3]) == 0 then return 'lost' end
redis.call('SADD', p .. ':nodes', ARGV[2])
return 1
"""

# ARGV: prefix. Removes the members of every node whose heartbeat expired;
# returns them as a flat list room1, sid1, room2, sid2, ...
SWEEP: Final = """
local gone = {}
for _, node in ipairs(redis.call('SMEMBERS', p .. ':nodes')) do
  if not alive(node) then
    local nkey = p .. ':node:' .. node
    for _, sid in ipairs(redis.call('SMEMBERS', nkey)) do
      for _, name in ipairs(redis.call('SMEMBERS', p .. ':sid:' .. sid)) do
        drop(name, sid)
        table.insert(gone, name)
        table.insert(gone, sid)
      end
    end
    redis.call('DEL', nkey)
    redis.call('SREM', p .. ':nodes', node)
  end
end
return gone
"""

# ARGV: prefix, this node, heartbeat milliseconds, then for each room: name,
# room JSON, created_at, invite list (JSON array). Restores room data this node
# remembers; when two nodes remember different rooms of one name (one was
# recreated while Redis was empty), the older room wins.
RESTORE_ROOMS: Final = """
for i = 4, #ARGV, 4 do
  local name, room, created_at = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local rkey = p .. ':room:' .. name
  local current = redis.call('GET', rkey)
  if (not current) or tonumber(cjson.decode(current).created_at) > created_at then
    redis.call('SET', rkey, room)
  end
  redis.call('SADD', p .. ':rooms', name)
  for _, invitee in ipairs(cjson.decode(ARGV[i + 3])) do
    redis.call('SADD', p .. ':invited:' .. name, invitee)
  end
end
redis.call('SET', p .. ':alive:' .. ARGV[2], '1', 'PX', ARGV[3])
redis.call('SADD', p .. ':nodes', ARGV[2])
return 1
"""

# ARGV: prefix, this node, then sid, room, member entry triples to add.
RESTORE_MEMBERS: Final = """
for i = 3, #ARGV, 3 do add(ARGV[i + 1], ARGV[i], ARGV[i + 2], ARGV[2]) end
return 1
"""

# ARGV: prefix, this node. Used on clean shutdown.
DEPART: Final = """
local nkey = p .. ':node:' .. ARGV[2]
for _, sid in ipairs(redis.call('SMEMBERS', nkey)) do
  for _, name in ipairs(redis.call('SMEMBERS', p .. ':sid:' .. sid)) do drop(name, sid) end
end
redis.call('DEL', nkey, p .. ':alive:' .. ARGV[2])
redis.call('SREM', p .. ':nodes', ARGV[2])
return 1
"""

# What the store registers, by the name it runs each script under.
SCRIPTS: Final[Mapping[str, str]] = {
    name: PRELUDE + body
    for name, body in {
        "create": CREATE,
        "join": JOIN,
        "leave": LEAVE,
        "forget": FORGET,
        "invite": INVITE,
        "heartbeat": HEARTBEAT,
        "sweep": SWEEP,
        "restore_rooms": RESTORE_ROOMS,
        "restore_members": RESTORE_MEMBERS,
        "depart": DEPART,
    }.items()
}
