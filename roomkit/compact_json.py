"""The JSON socket.io puts in its packets, without an encoder built per call.

python-socketio encodes each packet with ``json.dumps(data, separators=(",", ":"))``.
Any argument besides the object makes ``json.dumps`` build a ``JSONEncoder``
and then a C encoder for that one call, which costs more than encoding a chat
message; :func:`compact_dumps` writes the same text with the C encoder's
settings made once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as _stdlib_encoder
from typing import Any

__all__ = ["compact_dumps"]

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
    if isinstance(value, str):  # json.dumps' own shortcut for a lone string
        return _stdlib_encoder.encode_basestring_ascii(value)
    return "".join(encode(value, 0))
