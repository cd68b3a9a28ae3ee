"""Redis's wire protocol on the relay's hot path: commands encoded once, replies
parsed by hiredis in C, many of each per read or write.

redis-py spends several microseconds of Python per command and per reply
(building the command, a coroutine and a parser call for every reply, a dict
for every pub/sub message). A server relaying a burst of chat messages pays
that for every one of them, and the server that publishes pays it twice: once
publishing and once reading its own message back. :class:`WireConnection`
lets redis-py open and set up the connection (the URL, TLS, AUTH, HELLO),
then writes whole batches of encoded commands and hands back every reply that
one read brought in.

It relies on one redis-py internal: an open asyncio connection keeps its
stream reader and writer in ``_reader`` and ``_writer`` (redis-py 5 to 8);
:meth:`WireConnection.open` refuses, saying so, if that ever changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import hiredis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import InvalidResponse, ResponseError

from roomkit.redis_client import redis_client_options

__all__ = ["WireConnection", "bulk_string", "encode_command"]

READ_SIZE = 1 << 16
# What the parser returns while no whole reply is buffered (its default, False,
# is also a RESP3 reply).
_INCOMPLETE = object()


def bulk_string(data: bytes) -> bytes:
    """``data`` as a RESP bulk string: its length, then the bytes."""
    return b"$%d\r\n%s\r\n" % (len(data), data)


def encode_command(*parts: bytes) -> bytes:
    """One Redis command in RESP, ready to write: an array of bulk strings.

    :param parts: the command name and its arguments.
    """
    return b"*%d\r\n" % len(parts) + b"".join(map(bulk_string, parts))


class WireConnection:
    """One Redis connection, written to and read from directly.

    :param connection: an open redis-py asyncio connection; this object owns it
        from now on.
    """

    def __init__(self, connection: AbstractConnection) -> None:
        reader: Any = getattr(connection, "_reader", None)
        writer: Any = getattr(connection, "_writer", None)
        if not isinstance(reader, asyncio.StreamReader) or not isinstance(
            writer, asyncio.StreamWriter
        ):
            raise RuntimeError(
                "redis-py's asyncio connection no longer keeps its streams in "
                "_reader/_writer; roomkit.redis_wire needs updating for this redis-py"
            )
        self._connection = connection
        self._reader = reader
        self._writer = writer
        self._parser = hiredis.Reader(
            protocolError=InvalidResponse, replyError=ResponseError, notEnoughData=_INCOMPLETE
        )

    @classmethod
    async def open(cls, url: str, *, timeout: float) -> WireConnection:
        """Connect to the Redis at ``url`` as redis-py would (TLS, AUTH, HELLO).

        :param url: ``redis://``, ``rediss://`` or ``unix://`` URL.
        :param timeout: seconds for connecting and setting the connection up.
        :raises redis.exceptions.RedisError: when Redis cannot be reached or
            refuses the connection.
        """
        pool = ConnectionPool.from_url(url, **redis_client_options(timeout))
        connection = pool.make_connection()  # type: ignore[no-untyped-call]
        await connection.connect()
        return cls(connection)

    @property
    def usable(self) -> bool:
        """False once Redis closed the connection or it was closed here."""
        return not (self._writer.is_closing() or self._reader.at_eof())

    def write(self, data: bytes) -> None:
        """Queue ``data`` (encoded commands) for sending; the transport sends it
        as soon as it can, in one system call when it can."""
        self._writer.write(data)

    async def read(self) -> Iterator[Any]:
        """Wait for bytes from Redis, then return every whole reply they completed.

        The iterator may be empty (a reply arrived in part). Error replies come
        back as :class:`redis.exceptions.ResponseError` objects, not raised.

        :raises ConnectionError: when Redis closed the connection.
        """
        data = await self._reader.read(READ_SIZE)
        if not data:
            raise ConnectionError("Redis closed the connection")
        self._parser.feed(data)
        return self._replies()

    def _replies(self) -> Iterator[Any]:
        gets = self._parser.gets
        while (reply := gets()) is not _INCOMPLETE:
            yield reply

    async def close(self) -> None:
        """Close the connection (at once: nothing more is read from it)."""
        await self._connection.disconnect()
