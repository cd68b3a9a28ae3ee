"""Hand an exercise test's ``install`` or ``build`` from the grader to the candidate host.

The host rebuilds the function in its own process: a module-level function by
name, from the test module it imports by path (read-only); a closure (for
instance 4.1's ``installer(token)``) from its code object and the values it
closed over. Code only ever travels from the grader to the host: the grader
reads nothing from the host but short JSON answers.
"""

from __future__ import annotations

import base64
import importlib.util
import inspect
import marshal
import pickle
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from roomkit.course.failures import BrokenTest

__all__ = ["ship_function", "unship_function"]

_modules: dict[str, types.ModuleType] = {}


def ship_function(function: Callable[..., Any]) -> dict[str, Any]:
    """Describe an exercise test's ``install`` or ``build`` so that the host can rebuild it.

    A module-level function travels by name; a closure by code object and the
    values it closes over, which must pickle (strings, numbers...).
    """
    module = inspect.getmodule(function)
    filename = getattr(module, "__file__", None)
    if filename is None:
        raise BrokenTest(f"{function!r} is not defined in an exercise test module")
    path = str(Path(filename).resolve())  # the path the sandbox binds it at
    if "<locals>" not in function.__qualname__:
        return {"module": path, "qualname": function.__qualname__}
    values = [cell.cell_contents for cell in function.__closure__ or ()]
    return {
        "module": path,
        "code": base64.b64encode(marshal.dumps(function.__code__)).decode(),
        "closure": base64.b64encode(pickle.dumps(values)).decode(),
        "defaults": base64.b64encode(pickle.dumps(function.__defaults__)).decode(),
    }


def _test_module(path: str) -> types.ModuleType:
    """The exercise test module at ``path``, imported once, by path."""
    module = _modules.get(path)
    if module is None:
        name = f"roomkit_exercise_tests_{len(_modules)}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and typing look modules up by name
        spec.loader.exec_module(module)
        _modules[path] = module
    return module


def unship_function(shipped: dict[str, Any]) -> Any:
    """The function :func:`ship_function` described.

    A module-level function is found by name in its test module; a closure (for
    instance ``installer(token)``'s ``install``) is rebuilt from its code object
    and the values it closed over, with the test module as its globals.
    """
    module = _test_module(shipped["module"])
    if "code" not in shipped:
        found: Any = module
        for part in shipped["qualname"].split("."):
            found = getattr(found, part)
        return found
    code = marshal.loads(base64.b64decode(shipped["code"]))
    values = pickle.loads(base64.b64decode(shipped["closure"]))
    defaults = pickle.loads(base64.b64decode(shipped["defaults"]))
    cells = tuple(types.CellType(value) for value in values)
    return types.FunctionType(code, module.__dict__, code.co_name, defaults, cells or None)
