"""A class of students for exercise 0.1 ("Say hello"): honest ones, and attackers.

:func:`make_class` writes each student's submission folder from the course's
real notebook (``notebooks/00_start_here.ipynb``) with the exercise cell swapped
for the student's, and :func:`make_course_copy` a copy of the course to grade
against, so that an attack that gets through damages only the copy.

Every attacker wants marks it did not earn, or to spoil the class's grading.
Their kinds say what stops them:

- ``process``: one worker process per submission, a deadline that kills its
  process group, exactly one well-formed report over a private pipe;
- ``memory``: patches inside the grading process, and reading the reference or a
  classmate's work: they cannot reach another row once each submission has its
  own process, and earn nothing only once grading is sealed (the sandbox);
- ``disk``: changing files that outlive the submission (the course's tests, the
  results file, the output files after the run): only the sandbox stops them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
from course_builder import REPO

from roomkit.course.notebooks import cell_exercise_id

__all__ = ["ATTACKERS", "HONEST", "Student", "make_class", "make_course_copy"]


@dataclass(frozen=True)
class Student:
    """One student: their exercise 0.1 cell, what stops them, and the notebook's file name."""

    name: str
    cell: str
    kind: str = "honest"
    file_name: str = "00_start_here.ipynb"


# The grader's command line, wherever it runs: the worker's own, else its parent's.
_FIND_GRADER = """
import os, sys
def _grader_args():
    args = list(sys.argv)
    try:
        with open(f"/proc/{os.getppid()}/cmdline") as handle:
            args += handle.read().split("\\0")
    except OSError:
        pass
    return args
def _after(flag, args=None):
    args = _grader_args() if args is None else args
    found = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == flag]
    found += [arg.split("=", 1)[1] for arg in args if arg.startswith(flag + "=")]
    return found
def _grader_path(path):
    cwd = f"/proc/{os.getppid()}/cwd"
    return path if os.path.isabs(path) else os.path.join(os.readlink(cwd), path)
def _course_root():
    from roomkit.course.manifest import find_course_root
    roots = _after("--root")
    return find_course_root(__import__("pathlib").Path(roots[0]) if roots else None)
"""

_FORGED_RECORD = """
import json
def _forged(label, ids):
    test = {"name": "x", "outcome": "passed", "message": "", "test_id": "x"}
    return json.dumps({
        "submission": label, "selection": ids, "seconds": 0.1,
        "exercises": [{"id": i, "problem": "", "tests": [test]} for i in ids],
        "notebooks": {}, "notes": [],
    }) + "\\n"
def _forge_report():
    labels, ids = _after("--label", sys.argv), _after("--exercise", sys.argv) or ["0.1"]
    fds = [int(fd) for fd in _after("--result-fd", sys.argv)] or range(3, 64)
    for fd in fds:
        try:
            os.write(fd, _forged(labels[0] if labels else "?", ids).encode())
        except OSError:
            pass
"""


def _solution_cell() -> str:
    notebook = nbformat.read(REPO / "solutions" / "00_start_here.ipynb", as_version=4)
    (cell,) = (cell for cell in notebook.cells if cell_exercise_id(cell) == "0.1")
    return str(cell.source)


HONEST = [
    Student("honest_full", _solution_cell()),
    Student(
        "honest_partial",
        'def register_greeter(sio):\n    @sio.on("hello")\n'
        '    async def hello(sid, name):\n        return f"hello, {name}!"\n',
    ),
    Student(
        "honest_renamed",
        _solution_cell(),
        file_name="00_start_here (1).ipynb",
    ),
]

_STUB = 'def register_greeter(sio):\n    raise NotImplementedError("not solved")\n'

ATTACKERS = [
    Student("exits_early", "import os\nos._exit(0)\n", "process"),
    Student(
        "sys_exit_in_handler",
        "import sys\ndef register_greeter(sio):\n    @sio.on('hello')\n"
        "    async def hello(sid, name):\n        sys.exit(0)\n",
        "process",
    ),
    Student(
        "hangs_catching_timeouts",
        "import time\ndef register_greeter(sio):\n    @sio.on('hello')\n"
        "    async def hello(sid, name):\n        while True:\n            try:\n"
        "                time.sleep(0.2)\n            except BaseException:\n"
        "                pass\n",
        "process",
    ),
    Student("forks", "import os\nos.fork()\n" + _STUB, "process"),
    Student("memory_hog", "hog = bytearray(64 * 1024**3)\n" + _STUB, "process"),
    Student(
        "floods_stdout",
        _FIND_GRADER + _FORGED_RECORD + "import sys\n"
        "for _ in range(2000):\n    sys.stdout.write(_forged('honest_partial', ['0.1']))\n"
        "    sys.stderr.write('x' * 2000 + '\\n')\n" + _STUB,
        "process",
    ),
    Student(
        "forges_report_and_goes_on",
        _FIND_GRADER + _FORGED_RECORD + "_forge_report()\n" + _STUB,
        "process",
    ),
    Student(
        "patches_the_judge",
        "import sys\nimport roomkit.course.judge\n"
        "async def _same(*args, **kwargs):\n    return None\n"
        "roomkit.course.judge.check_against_reference = _same\n"
        "for _module in list(sys.modules.values()):\n"
        "    if hasattr(_module, 'check_against_reference'):\n"
        "        _module.check_against_reference = _same\n"
        "def register_greeter(sio):\n    pass\n",
        "memory",
    ),
    Student(
        "patches_json_dumps",
        "import json\n_dumps = json.dumps\n"
        "def _passing(*args, **kwargs):\n"
        "    return _dumps(*args, **kwargs).replace('\"failed\"', '\"passed\"')"
        ".replace('\"timed out\"', '\"passed\"')\n"
        "json.dumps = _passing\ndef register_greeter(sio):\n    pass\n",
        "memory",
    ),
    Student(
        "forges_report_and_exits",
        _FIND_GRADER + _FORGED_RECORD + "_forge_report()\nos._exit(0)\n",
        "memory",
    ),
    Student(
        "finds_the_reference_in_memory",
        "import gc\ndef register_greeter(sio):\n    for found in gc.get_objects():\n"
        "        if getattr(found, '__name__', '') == 'register_greeter' and found is not "
        "register_greeter and callable(found):\n            return found(sio)\n",
        "memory",
    ),
    Student(
        "loads_the_reference",
        _FIND_GRADER + "from roomkit.course.implementations import reference\n"
        "from roomkit.course.manifest import load_course\n_course = load_course(_course_root())\n"
        "register_greeter = reference(_course, _course.exercise('0.1')).register_greeter\n",
        "memory",
    ),
    Student(
        "reads_solutions",
        _FIND_GRADER + "import json\n_path = _course_root() / 'solutions' / '00_start_here.ipynb'\n"
        "for _cell in json.loads(_path.read_text())['cells']:\n"
        "    if _cell['cell_type'] == 'code' and _cell['metadata'].get('tags'):\n"
        "        exec(''.join(_cell['source']), globals())\n",
        "memory",
    ),
    Student(
        "copies_a_classmate",
        _FIND_GRADER + "import json, glob\n"
        "for _arg in _grader_args():\n"
        "    if 'honest_full' in _arg:\n"
        "        for _path in glob.glob(os.path.join(_grader_path(_arg), '*.ipynb')):\n"
        "            with open(_path) as _file:\n"
        "                _cells = json.load(_file)['cells']\n"
        "            for _cell in _cells:\n"
        "                if 'exercise-0.1' in _cell['metadata'].get('tags', []):\n"
        "                    exec(''.join(_cell['source']), globals())\n",
        "memory",
    ),
    Student(
        "rewrites_the_tests",
        _FIND_GRADER + "for _test in (_course_root() / 'tests' / 'exercises').glob('test_*.py'):\n"
        "    _test.write_text(_test.read_text().replace('await check_against_reference(', '('))\n"
        + _STUB,
        "disk",
    ),
    Student(
        "forges_the_results_file",
        _FIND_GRADER
        + _FORGED_RECORD
        + "for _results in _after('--results') or ['roomkit-grade.jsonl']:\n"
        "    with open(_grader_path(_results), 'a') as _file:\n"
        "        for _arg in _grader_args():\n"
        "            _file.write(_forged(_arg, ['0.1']))\n" + _STUB,
        "disk",
    ),
    Student(
        "rewrites_the_outputs_later",
        _FIND_GRADER + _FORGED_RECORD + "import time\n_outputs = _after('--json')\n"
        "_targets = [_grader_path(output) for output in _outputs]\n"
        "if _targets and os.fork() == 0:\n    os.setsid()\n"
        "    _target = _targets[0]\n"
        "    with open('{marker}', 'w') as _marker:\n        _marker.write(str(os.getpid()))\n"
        "    for _ in range(1200):\n        time.sleep(0.1)\n"
        "        if os.path.exists(_target):\n"
        "            open(_target, 'w').write(_forged('everyone', ['0.1']))\n"
        "    os._exit(0)\n" + _STUB,
        "disk",
    ),
]


def make_course_copy(root: Path) -> Path:
    """Copy the course's manifest, solutions, exercise tests and pytest settings to ``root``."""
    shutil.copytree(REPO / "solutions", root / "solutions")
    shutil.copytree(REPO / "tests" / "exercises", root / "tests" / "exercises")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def make_class(folder: Path, students: list[Student], marker: Path) -> list[str]:
    """Write each student's submission folder into ``folder``; returns their names.

    :param folder: the class folder.
    :param students: who.
    :param marker: the file a daemon left behind writes its process id to.
    """
    learners = REPO / "notebooks" / "00_start_here.ipynb"
    for student in students:
        notebook = nbformat.read(learners, as_version=4)
        for cell in notebook.cells:
            if cell_exercise_id(cell) == "0.1":
                cell.source = student.cell.replace("{marker}", str(marker))
        (folder / student.name).mkdir(parents=True)
        if student.file_name != learners.name:
            # The unsolved notebook, downloaded earlier: the newer copy is the one graded.
            stale = shutil.copy(learners, folder / student.name / learners.name)
            os.utime(stale, (0, 0))
        nbformat.write(notebook, folder / student.name / student.file_name)
    return [student.name for student in students]
