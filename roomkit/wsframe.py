"""Server websocket frames (RFC 6455), plain or permessage-deflate (RFC 7692).

A server does not mask its frames, so a frame is a function of its payload
alone: :mod:`roomkit.fanout` builds one per broadcast and hands the same bytes
to every recipient; :class:`Deflater` compresses per connection (the
compressor's state is that connection's) when compression was negotiated.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

__all__ = ["OP_BINARY", "OP_TEXT", "Deflater", "frame"]

OP_TEXT = 0x1
OP_BINARY = 0x2
_FIN = 0x80
_RSV1 = 0x40  # set on permessage-deflate frames
_LEN16 = struct.Struct("!BBH").pack
_LEN64 = struct.Struct("!BBQ").pack
_DEFLATE_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 7.2.1: removed from each message


def frame(payload: bytes, opcode: int = OP_TEXT, rsv: int = 0) -> bytes:
    """One unmasked, final websocket frame (RFC 6455 5.2), as a server sends it.

    :param payload: the frame's payload.
    :param opcode: ``OP_TEXT`` (default) or ``OP_BINARY``.
    :param rsv: reserved bits of the first byte: 0 (default), or ``0x40``
        for a permessage-deflate compressed message.
    """
    first = _FIN | rsv | opcode
    length = len(payload)
    if length < 126:
        return bytes((first, length)) + payload
    if length < 65536:
        return _LEN16(first, 126, length) + payload
    return _LEN64(first, 127, length) + payload


class Deflater:
    """permessage-deflate (RFC 7692) for one connection's outgoing messages.

    :param wbits: the window size the handshake agreed on (9-15).
    :param no_context_takeover: start each message with a fresh compressor
        (the client asked for ``server_no_context_takeover``).
    """

    __slots__ = ("_compressor", "no_context_takeover", "wbits")

    def __init__(self, wbits: int, no_context_takeover: bool) -> None:
        self.wbits = wbits
        self.no_context_takeover = no_context_takeover
        self._compressor = self._new()

    def _new(self) -> Any:
        return zlib.compressobj(zlib.Z_BEST_SPEED, zlib.DEFLATED, -self.wbits)

    def frame(self, payload: bytes, opcode: int) -> bytes:
        """The compressed frame carrying ``payload``."""
        data = self._compressor.compress(payload) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        if data.endswith(_DEFLATE_TAIL):
            data = data[:-4]
        if self.no_context_takeover:
            self._compressor = self._new()
        return frame(data, opcode, _RSV1)
