"""Command-line flags for the fields of a settings dataclass.

``roomkit serve`` offers one flag per field of :class:`~roomkit.settings.Limits`
and :class:`~roomkit.settings.LoadLimits` (``max_text_length`` is
``--max-text-length``), each falling back on the environment variable
``ROOMKIT_<FIELD>`` when it is not given, else on the field's default, with the
field's documented meaning as its help. The variables are read when the values
are, so a malformed one stops ``roomkit serve`` only, not every command. The
dataclass itself checks the values.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from typing import Any

__all__ = ["add_field_flags", "fields_from_args"]


def _field_env(name: str) -> str:
    """The environment variable a field's flag falls back on: ``ROOMKIT_<NAME>``."""
    return f"ROOMKIT_{name.upper()}"


def _field_help(cls: type, name: str) -> str:
    """The text of ``:param name:`` in ``cls``'s docstring, on one line, without
    reStructuredText's double backquotes ("" when absent).

    :param cls: a dataclass documented in the ``:param name: text`` style.
    :param name: one of its fields.
    """
    found = re.search(
        rf":param {re.escape(name)}:(.*?)(?=\n\s*\n|\n\s*:param |\Z)", cls.__doc__ or "", re.DOTALL
    )
    return " ".join(found.group(1).replace("``", "").split()) if found else ""


def _numeric_fields(cls: type) -> list[tuple[str, type]]:
    # Booleans (such as Limits.rate_limit) are left to flags of their own.
    kinds = {"int": int, "float": float}
    return [
        (field.name, kinds[str(field.type)])
        for field in dataclasses.fields(cls)
        if str(field.type) in kinds
    ]


def _env_value(name: str, kind: type) -> Any:
    """``ROOMKIT_<NAME>`` as a ``kind``; None when unset or empty.

    :raises SystemExit: when it is not a number.
    """
    env = _field_env(name)
    value = os.environ.get(env, "")
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        raise SystemExit(
            f"roomkit: {env} must be a{'n integer' if kind is int else ' number'}, not {value!r}"
        ) from None


def add_field_flags(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    title: str,
    dest_prefix: str,
) -> None:
    """Add a group of flags to ``parser``, one per int or float field of ``cls``
    (booleans get none).

    :param parser: the command's parser.
    :param cls: the settings dataclass (its fields need defaults).
    :param title: the group's title in ``--help``.
    :param dest_prefix: prefix of each flag's attribute on the parsed arguments,
        so that fields of different classes cannot collide.
    """
    group = parser.add_argument_group(title)
    for name, kind in _numeric_fields(cls):
        group.add_argument(
            "--" + name.replace("_", "-"),
            dest=dest_prefix + name,
            type=kind,
            default=None,  # not given: the variable, else the field's default
            metavar=kind.__name__.upper(),
            # argparse expands "%" in help texts.
            help=f"{_field_help(cls, name)} (or ${_field_env(name)})".replace("%", "%%"),
        )


def fields_from_args(args: argparse.Namespace, cls: type, *, dest_prefix: str) -> dict[str, Any]:
    """The fields given by a flag :func:`add_field_flags` added or, failing that,
    by a ``ROOMKIT_<FIELD>`` variable, by field name (the others keep the
    dataclass's defaults).

    :param args: the parsed arguments.
    :param cls: the same dataclass.
    :param dest_prefix: the same prefix.
    :raises SystemExit: when a ``ROOMKIT_<FIELD>`` variable is not a number.
    """
    values = {}
    for name, kind in _numeric_fields(cls):
        value = getattr(args, dest_prefix + name)
        if value is None:
            value = _env_value(name, kind)
        if value is not None:
            values[name] = value
    return values
