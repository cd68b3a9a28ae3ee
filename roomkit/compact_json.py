"""The JSON socket.io puts in its packets, without an encoder or decoder built per call.

python-socketio encodes each packet with ``json.dumps(data, separators=(",", ":"))``
and decodes each with python-engineio's ``json.loads(text, parse_int=...)``.
Any argument besides the object makes ``json.dumps`` build a ``JSONEncoder``
and then a C encoder for that one call, and ``json.loads`` a ``JSONDecoder``,
each costing more than a chat message's JSON; :func:`compact_dumps` and
:func:`network_loads` give the same results with their settings made once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as _stdlib_encoder
from typing import Any

__all__ = ["PacketJson", "compact_dumps", "network_loads"]

_SEPARATORS = (",", ":")
_TEMPLATE = json.JSONEncoder(separators=_SEPARATORS)
# The _json accelerator's encoder factory (json.encoder's own name for it;
# typeshed leaves it out). None where the interpreter lacks the accelerator.
_make_c_encoder: Callable[..., Callable[[Any, int], Any]] | None = getattr(
    _stdlib_encoder, "c_make_encoder", None
)


def compact_dumps(value: Any) -> str:
    """``json.dumps(value, separators=(",", ":"))``: the same text, and the same
    exceptions (``TypeError`` for what JSON cannot hold, ``ValueError`` for a
    circular reference).

    :param value: what to encode.
    """
    if _make_c_encoder is None:  # an interpreter without the _json accelerator
        return json.dumps(value, separators=_SEPARATORS)
    # A fresh markers dict per call, as json.dumps makes: the C encoder leaves
    # entries behind when it fails half-way, which would haunt the next call.
    encode = _make_c_encoder(
        {},
        _TEMPLATE.default,
        _stdlib_encoder.encode_basestring_ascii,
        None,
        _TEMPLATE.key_separator,
        _TEMPLATE.item_separator,
        False,
        False,
        True,
    )
    return "".join(encode(value, 0))


def _bounded_int(digits: str) -> int:
    # engine.io's rule for JSON from the network: no integer over 100 digits
    # (converting a huge one takes quadratic time).
    if len(digits) > 100:
        raise ValueError("Integer is too large")
    return int(digits)


_DECODER = json.JSONDecoder(parse_int=_bounded_int)


def network_loads(text: str | bytes) -> Any:
    """python-engineio's ``json.loads`` for JSON from the network: the same
    value, and ``ValueError`` for malformed text or an integer over 100 digits.

    :param text: the JSON text (bytes are decoded as ``json.loads`` does).
    """
    if isinstance(text, str):
        return _DECODER.decode(text)
    return json.loads(text, parse_int=_bounded_int)


class PacketJson:
    """The ``json`` module a socket.io packet class uses (``Packet.json``):
    ``json.dumps`` and :func:`network_loads`."""

    dumps = staticmethod(json.dumps)
    loads = staticmethod(network_loads)
