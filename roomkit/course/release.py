"""``roomkit release DIR``: the student distribution of the course, without the answers.

A release holds what a learner needs and nothing an instructor keeps: the
learner's notebooks (generated from ``solutions/`` as ``roomkit build`` does) and
the reference's recordings (``notebooks/.expected/``, recorded afresh), the
``roomkit`` package, the public exercise tests, the manifest at the release's root
(``exercises.toml``, without the hidden tests' names), a student README and a
Makefile whose ``make lab`` sets up and opens the course. Left out: ``solutions/``,
every hidden test (modules named by ``hidden_tests``, modules marked hidden, and
test functions marked ``@pytest.mark.hidden``, cut from their module), the docs,
the instructor's tests and benchmarks.
"""

from __future__ import annotations

import ast
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roomkit.course.authoring import solution_notebooks, stub_text
from roomkit.course.expected import record, render_recording
from roomkit.course.manifest import RELEASE_MANIFEST, Course
from roomkit.course.pytest_plugin import HIDDEN_MARK
from roomkit.course.recording import recording_path
from roomkit.errors import RoomkitError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["ReleaseError", "ReleaseReport", "public_test_source", "release"]

# Copied as they are, when the course has them (paths relative to its root).
_COPIED = ("pyproject.toml", "constraints.txt", "environment.yml", "LICENSE")
# The package as installed, with its built web assets (the release needs no npm).
_PACKAGE = Path(__file__).resolve().parents[1]
_SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")

README = """\
# {title}: your copy of the course

```bash
make lab    # set everything up (a .venv here), then open the course in JupyterLab
```

Work through `notebooks/` in order. Each exercise ends with a check cell,
`await check("2.1")`: it runs the exercise's checks against your code and says
what differs from what the reference server does. Run it as often as you like.

Your instructor grades with more checks than `await check` runs: when an exercise
has some, its check ends with "N more checks run at grading (they cover: ...)".

To see your grade as the instructor's grader computes it on the checks you have:

```bash
.venv/bin/roomkit grade notebooks/
```

Needs Python 3.10+ and `make`; `redis-server` for the scaling notebook (06).
"""

MAKEFILE = """\
# `make lab`: set up a .venv with the course, then open it in JupyterLab.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.roomkit-installed
# The versions the course was tested with, when it ships them.
PINS   := $(wildcard constraints.txt)

.PHONY: setup lab

setup: $(STAMP)

$(STAMP): pyproject.toml $(PINS)
\t@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
\t$(BIN)/python -m pip install --quiet --upgrade pip
\t$(BIN)/python -m pip install --quiet $(if $(PINS),-c $(PINS)) -e '.[course]'
\t@touch $@

# Jupyter refuses to run as root unless told; containers often are root.
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: setup
\t$(BIN)/jupyter lab notebooks/ $(LAB_FLAGS)
"""


class ReleaseError(RoomkitError):
    """The release cannot be made; the message says why."""


@dataclass
class ReleaseReport:
    """What :func:`release` wrote.

    :attr root: the release's folder.
    :attr notebooks: the learner's notebooks.
    :attr test_modules: the public test modules.
    :attr hidden_left_out: hidden tests left out, as ``<module>::<test>`` or a module.
    """

    root: Path
    notebooks: list[str] = field(default_factory=list)
    test_modules: list[str] = field(default_factory=list)
    hidden_left_out: list[str] = field(default_factory=list)


def _is_hidden_mark(node: ast.expr) -> bool:
    """``pytest.mark.hidden`` (also ``mark.hidden``), however it is spelled."""
    return ast.unparse(node).split("(")[0].endswith(f"mark.{HIDDEN_MARK}")


def _module_is_hidden(module: ast.Module) -> bool:
    for node in module.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytestmark" for target in node.targets
        ):
            values = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else []
            if _is_hidden_mark(node.value) or any(_is_hidden_mark(value) for value in values):
                return True
    return False


def public_test_source(text: str, name: str) -> tuple[str | None, list[str]]:
    """``text`` (test module ``name``) without its hidden tests.

    :returns: the public source, or None when the whole module is hidden; and the
        hidden tests cut from it (``<name>::<test>``).
    """
    module = ast.parse(text)
    if _module_is_hidden(module):
        return None, [name]
    lines = text.splitlines(keepends=True)
    cut: list[str] = []
    for node in reversed(module.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
            _is_hidden_mark(decorator) for decorator in node.decorator_list
        ):
            first = min(decorator.lineno for decorator in node.decorator_list)
            assert node.end_lineno is not None  # ast sets it for every statement
            del lines[first - 1 : node.end_lineno]
            cut.append(f"{name}::{node.name}")
    return "".join(lines), cut[::-1]


def _toml(value: Any) -> str:
    """``value`` as TOML (the manifest's kinds: strings, numbers, lists, tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    raise ReleaseError(f"the manifest holds a {type(value).__name__}, which a release cannot copy")


def _release_manifest(course: Course, hidden_tests: set[str]) -> str:
    """The manifest without the names of hidden tests and hidden modules."""
    document = tomllib.loads(course.manifest_path.read_text(encoding="utf-8"))
    out = ["# The course's exercises (the student release: see README.md).\n"]
    for table in document.get("exercises", []):
        table = dict(table)
        table.pop("hidden_tests", None)
        points = {
            test: share
            for test, share in table.get("test_points", {}).items()
            if test not in hidden_tests
        }
        table.pop("test_points", None)
        if points:
            table["test_points"] = points
        out.append("\n[[exercises]]\n")
        out.extend(f"{key} = {_toml(value)}\n" for key, value in table.items())
    return "".join(out)


def _copy_public_tests(course: Course, target: Path, report: ReleaseReport) -> set[str]:
    """Copy the public tests into ``target``; returns the hidden tests' function names."""
    target.mkdir(parents=True)
    shutil.copy2(course.tests_dir / "conftest.py", target / "conftest.py")
    hidden_names: set[str] = set()
    for exercise in course.exercises:
        if exercise.hidden_tests:
            report.hidden_left_out.append(exercise.hidden_tests)
        path = course.test_path(exercise)
        source, cut = public_test_source(path.read_text(encoding="utf-8"), path.name)
        report.hidden_left_out.extend(cut)
        hidden_names.update(name.rsplit("::", 1)[-1] for name in cut)
        if source is not None:
            (target / path.name).write_text(source, encoding="utf-8")
            report.test_modules.append(path.name)
    return hidden_names


def release(course: Course, destination: Path) -> ReleaseReport:
    """Write the student release of ``course`` into ``destination`` (which must not exist).

    :param course: the instructor's course (with ``solutions/``).
    :param destination: the release's folder.
    :raises ReleaseError: when ``destination`` exists, or is inside the course.
    :raises RoomkitError: when a solution notebook is malformed, or the reference
        cannot be recorded.
    """
    destination = destination.absolute()
    if destination.exists():
        raise ReleaseError(f"{destination} exists: give a new folder")
    if not course.solutions_dir.is_dir():
        raise ReleaseError(f"{course.root} has no solutions/: release from the full course")
    recordings = record(course)
    report = ReleaseReport(destination)
    notebooks = destination / "notebooks"
    (notebooks / ".expected").mkdir(parents=True)
    for solution in solution_notebooks(course):
        (notebooks / solution.name).write_text(stub_text(course, solution), encoding="utf-8")
        report.notebooks.append(solution.name)
    for exercise in course.exercises:
        path = recording_path(course, exercise).relative_to(course.notebooks_dir)
        (notebooks / path).write_text(render_recording(recordings[exercise.id]), encoding="utf-8")
    hidden_names = _copy_public_tests(course, destination / "tests" / "exercises", report)
    (destination / RELEASE_MANIFEST).write_text(
        _release_manifest(course, hidden_names), encoding="utf-8"
    )
    shutil.copytree(_PACKAGE, destination / _PACKAGE.name, ignore=_SKIPPED)
    for name in _COPIED:
        if (course.root / name).is_file():
            shutil.copy2(course.root / name, destination / name)
    (destination / "README.md").write_text(
        README.format(title=course.root.resolve().name), encoding="utf-8"
    )
    (destination / "Makefile").write_text(MAKEFILE, encoding="utf-8")
    return report
