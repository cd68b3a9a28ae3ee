"""Checks of the learner's code itself, for the rules no scenario can observe.

A scenario sees what a server sends, not how it decided. "Compare the token in
constant time" is such a rule: ``==`` and ``hmac.compare_digest`` admit and
refuse the same clients. :func:`require_call` checks the compiled code instead:
the function, the functions nested in it, and the functions of its module that
it names, must call the required function somewhere.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from typing import Any

from roomkit.course.failures import ExerciseFailure, NotSolved, describe_exception

__all__ = ["names_used", "require_call"]


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _code_objects(constant)


def names_used(function: Callable[..., Any]) -> set[str]:
    """Every global and attribute name the code of ``function`` uses.

    Follows nested functions (closures, handlers defined inside) and, one level
    deep, the functions of the same module that it names, so that a helper the
    learner wrote in the same cell counts too.

    :param function: a Python function.
    """
    names: set[str] = set()
    code = getattr(function, "__code__", None)
    if not isinstance(code, types.CodeType):
        return names
    for part in _code_objects(code):
        names.update(part.co_names)
    module_globals = getattr(function, "__globals__", {})
    for name in list(names):
        helper = module_globals.get(name)
        helper_code = getattr(helper, "__code__", None)
        if helper is not function and isinstance(helper_code, types.CodeType):
            for part in _code_objects(helper_code):
                names.update(part.co_names)
    return names


def require_call(
    function: Callable[..., Any], required: str, *, rule: str, call: Callable[[], Any]
) -> None:
    """Fail unless the code of ``function`` calls something named ``required``.

    :param function: the learner's function, e.g. ``impl.require_admin_token``.
    :param required: the name that must appear, e.g. ``"compare_digest"``.
    :param rule: the rule, in the exercise text's words, for the failure message.
    :param call: calls ``function`` once with valid arguments first, so that an
        unsolved exercise reports "not solved yet" rather than the missing call.
    :raises NotSolved: when ``call`` raises ``NotImplementedError``.
    :raises ExerciseFailure: when ``required`` is not used.
    """
    try:
        call()
    except NotImplementedError as error:
        raise NotSolved(f"not solved yet: {error}") from None
    except Exception as error:  # the learner's code may raise anything
        raise ExerciseFailure(
            f"calling your {getattr(function, '__name__', 'code')} raised "
            + describe_exception(error)
        ) from None
    if required not in names_used(function):
        raise ExerciseFailure(
            f"{rule}: your {getattr(function, '__name__', 'code')} never calls {required}. "
            "== and != stop at the first character that differs, so the time they take "
            "tells an attacker how much of a guess was right."
        )
