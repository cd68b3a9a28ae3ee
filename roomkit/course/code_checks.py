"""Checks of the learner's code itself, for the rules no scenario can observe.

A scenario sees what a server sends, not how it decided. "Compare the token in
constant time" is such a rule: ``==`` and ``hmac.compare_digest`` admit and
refuse the same clients. :func:`require_call` checks the compiled code instead:
the function, the functions nested in it, and the functions of its cells that
it names, must call the required function somewhere.

Under sealed grading the learner's functions live in another process
(:mod:`roomkit.course.remote`); there the check compiles the exercise's cells,
which runs none of their code, and reads the same code objects.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from roomkit.course.failures import ExerciseFailure, NotSolved, describe_exception
from roomkit.course.implementations import CellCode, Implementation
from roomkit.course.remote_implementation import RemoteImplementation

__all__ = ["cell_functions", "names_used", "require_call"]


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _code_objects(constant)


def names_used(code: types.CodeType, helpers: Mapping[str, types.CodeType]) -> set[str]:
    """Every global and attribute name ``code`` uses.

    Follows nested functions (closures, handlers defined inside) and, one level
    deep, the ``helpers`` that it names, so that a helper the learner wrote in
    the same cell counts too.

    :param code: a function's code object.
    :param helpers: the code of the functions it may call by name.
    """
    names: set[str] = set()
    for part in _code_objects(code):
        names.update(part.co_names)
    for name in list(names):
        helper = helpers.get(name)
        if helper is not None and helper is not code:
            for part in _code_objects(helper):
                names.update(part.co_names)
    return names


def cell_functions(cells: Iterable[CellCode]) -> dict[str, types.CodeType]:
    """The code of each function defined at the top level of ``cells``, by name.

    Compiling runs nothing; a cell that does not compile defines nothing here
    (loading it reports the error).
    """
    functions: dict[str, types.CodeType] = {}
    for cell in cells:
        try:
            code = compile(cell.source, cell.filename, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            continue
        for constant in code.co_consts:
            if isinstance(constant, types.CodeType):
                functions[constant.co_name] = constant
    return functions


def _function_code(function: Any) -> tuple[types.CodeType, dict[str, types.CodeType]]:
    """A live function's code, and that of the functions of its module."""
    code = getattr(function, "__code__", None)
    if not isinstance(code, types.CodeType):
        raise ExerciseFailure(f"your {getattr(function, '__name__', 'code')} is not a function")
    helpers = {
        name: value.__code__
        for name, value in getattr(function, "__globals__", {}).items()
        if isinstance(getattr(value, "__code__", None), types.CodeType)
    }
    return code, helpers


def require_call(
    impl: Implementation, name: str, required: str, *, rule: str, call: Callable[[], Any]
) -> None:
    """Fail unless the code of the learner's ``name`` calls something named ``required``.

    :param impl: the implementation under test (the ``impl`` fixture).
    :param name: the function the rule is about, e.g. ``"require_admin_token"``.
    :param required: the name that must appear, e.g. ``"compare_digest"``.
    :param rule: the rule, in the exercise text's words, for the failure message.
    :param call: calls the function once with valid arguments first, so that an
        unsolved exercise reports "not solved yet" rather than the missing call.
        Not called under sealed grading, where the function is out of reach: there
        a function that raises ``NotImplementedError`` and lacks the call counts as
        not solved.
    :raises NotSolved: when the exercise is not solved yet.
    :raises ExerciseFailure: when ``required`` is not used.
    """
    if isinstance(impl, RemoteImplementation):
        impl.load()  # the same failure as the scenarios' when the cells cannot run
        helpers = cell_functions(impl.cells)
        if name not in helpers:
            raise ExerciseFailure(f"{impl.label} does not define {name} at the top of a cell")
        names = names_used(helpers[name], helpers)
        if required not in names and "NotImplementedError" in names:
            raise NotSolved(f"not solved yet: {name} raises NotImplementedError")
    else:
        function = getattr(impl, name)
        try:
            call()
        except NotImplementedError as error:
            raise NotSolved(f"not solved yet: {error}") from None
        except Exception as error:  # the learner's code may raise anything
            raise ExerciseFailure(
                f"calling your {name} raised " + describe_exception(error)
            ) from None
        names = names_used(*_function_code(function))
    if required not in names:
        raise ExerciseFailure(
            f"{rule}: your {name} never calls {required}. "
            "== and != stop at the first character that differs, so the time they take "
            "tells an attacker how much of a guess was right."
        )
