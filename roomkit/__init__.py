"""roomkit: Socket.IO rooms and namespaces, taught and served.

The public names are re-exported here; submodules hold one concept each.
"""

from roomkit.admin import AdminNamespace, require_token
from roomkit.app import create_app
from roomkit.chat import ChatNamespace
from roomkit.errors import (
    ConnectRefused,
    ProtocolError,
    Refused,
    RoomkitError,
    StoreMisconfigured,
    StoreUnavailable,
    WaitTimeout,
)
from roomkit.middleware import Handshake, MiddlewareNamespace
from roomkit.settings import Limits, LoadLimits, Settings
from roomkit.stores import store_from_url
from roomkit.stores.base import Member, Room, RoomStore
from roomkit.stores.memory import MemoryStore

__all__ = [
    "AdminNamespace",
    "ChatNamespace",
    "ConnectRefused",
    "Handshake",
    "Limits",
    "LoadLimits",
    "Member",
    "MemoryStore",
    "MiddlewareNamespace",
    "ProtocolError",
    "Refused",
    "Room",
    "RoomStore",
    "RoomkitError",
    "Settings",
    "StoreMisconfigured",
    "StoreUnavailable",
    "WaitTimeout",
    "create_app",
    "require_token",
    "store_from_url",
]

__version__ = "0.1.0"
