"""Solution notebooks -> learner notebooks, the manifest's checks, and the exercise scaffold."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from course_builder import (
    MANIFEST,
    SETUP,
    SOLVED,
    code,
    make_built_course,
    make_course,
    notebook,
    solution_notebook,
)
from nbformat.v4 import new_output

from roomkit.course.authoring import AuthoringError, build, make_stub, notebook_problems
from roomkit.course.integrity import course_problems
from roomkit.course.manifest import ManifestError, load_course
from roomkit.course.notebooks import read_notebook, render
from roomkit.course.scaffold import ScaffoldError, new_exercise


def _stub(path: Path) -> nbformat.NotebookNode:
    course = load_course(path.parent.parent)
    return make_stub(read_notebook(path), path.name, course.in_notebook(path.name))


def test_stub_replaces_each_solution_region_with_todo_and_raise(tmp_path: Path) -> None:
    make_course(tmp_path)
    stub = _stub(tmp_path / "solutions" / "09_demo.ipynb")
    exercise = stub.cells[3]
    assert exercise.source == (
        "def register_echo(sio: socketio.AsyncServer) -> None:\n"
        '    """Answer "echo" with the text it carried."""\n'
        "    # TODO: your code for exercise 9.1 goes here.\n"
        "    raise NotImplementedError('exercise 9.1 (Echo)')"
    )
    assert exercise.metadata == {"tags": ["exercise", "exercise-9.1"]}
    assert stub.cells[1].source == SETUP
    # The demo cell calls the learner's function: it raises until the exercise is solved.
    assert stub.cells[5].metadata["tags"] == ["raises-exception"]
    assert "tags" not in stub.cells[7].metadata


def test_stub_drops_outputs_counts_and_volatile_metadata(tmp_path: Path) -> None:
    make_course(tmp_path)
    path = tmp_path / "solutions" / "09_demo.ipynb"
    solution = read_notebook(path)
    demo = solution.cells[5]
    demo.outputs = [new_output("stream", name="stdout", text="hello\n")]
    demo.execution_count = 7
    demo.metadata.update({"scrolled": True, "execution": {"iopub.status.idle": "2024"}})
    solution.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    course = load_course(tmp_path)
    stub = make_stub(solution, path.name, course.in_notebook(path.name))
    assert stub.cells[5].outputs == []
    assert stub.cells[5].execution_count is None
    assert stub.cells[5].metadata == {"tags": ["raises-exception"]}
    assert stub.metadata["language_info"] == {"name": "python"}


def test_stub_text_is_deterministic_and_formatted_like_nbformat(tmp_path: Path) -> None:
    make_course(tmp_path)
    path = tmp_path / "solutions" / "09_demo.ipynb"
    first, second = render(_stub(path)), render(_stub(path))
    assert first == second
    assert first.endswith("}\n")
    parsed = json.loads(first)
    assert first == json.dumps(parsed, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    nbformat.validate(nbformat.reads(first, as_version=4))


def test_region_at_top_level_marks_the_exercise_cell_as_raising(tmp_path: Path) -> None:
    make_course(tmp_path)
    course = load_course(tmp_path)
    top_level = "### BEGIN SOLUTION\ndef register_echo(sio):\n    pass\n### END SOLUTION"
    stub = make_stub(solution_notebook(top_level), "09_demo.ipynb", course.exercises)
    assert stub.cells[3].source.startswith("# TODO")
    assert "raises-exception" in stub.cells[3].metadata["tags"]


@pytest.mark.parametrize(
    ("cells", "problem"),
    [
        (
            [
                code(
                    "def register_echo(sio):\n    ### BEGIN SOLUTION\n    pass",
                    "exercise",
                    "exercise-9.1",
                )
            ],
            "is never ended",
        ),
        (
            [code("def register_echo(sio):\n    ### END SOLUTION", "exercise", "exercise-9.1")],
            "without ### BEGIN SOLUTION",
        ),
        ([code(SOLVED, "exercise")], "needs both tags"),
        (
            [code(SOLVED, "exercise", "exercise-9.1"), code(SOLVED, "exercise", "exercise-9.2")],
            "exercise '9.2' is not listed",
        ),
        (
            [code("def register_echo(sio):\n    pass", "exercise", "exercise-9.1")],
            "without ### BEGIN SOLUTION region",
        ),
        (
            [code(SOLVED.replace("register_echo", "echo_server"), "exercise", "exercise-9.1")],
            "do not define register_echo",
        ),
        (
            [code(SOLVED, "exercise", "exercise-9.1"), code("x = 1\n### BEGIN SOLUTION")],
            "solution markers outside an exercise cell",
        ),
        (
            [code("await start()", "setup"), code(SOLVED, "exercise", "exercise-9.1")],
            "must be plain Python",
        ),
        ([code("x = 1")], "no cell tagged 'exercise-9.1'"),
    ],
)
def test_malformed_solution_notebooks_are_explained(
    tmp_path: Path, cells: list[nbformat.NotebookNode], problem: str
) -> None:
    course = make_course(tmp_path)
    broken = notebook(*cells)
    problems = notebook_problems(broken, "09_demo.ipynb", course.exercises)
    assert any(problem in line for line in problems), problems
    with pytest.raises(AuthoringError, match=r"09_demo\.ipynb"):
        make_stub(broken, "09_demo.ipynb", course.exercises)


def test_build_check_finds_stale_and_orphan_notebooks(tmp_path: Path) -> None:
    course = make_built_course(tmp_path)
    assert build(course, check=True).ok
    solution = tmp_path / "solutions" / "09_demo.ipynb"
    changed = read_notebook(solution)
    changed.cells[0].source = "# 09 · Demo, revised"
    nbformat.write(changed, solution)
    (tmp_path / "notebooks" / "08_gone.ipynb").write_text("{}")
    report = build(course, check=True)
    assert report.stale == ["notebooks/09_demo.ipynb"]
    assert report.orphans == ["notebooks/08_gone.ipynb"]
    assert not report.ok
    assert build(course).written == ["notebooks/09_demo.ipynb"]
    assert build(course, check=True).stale == []


def test_build_does_not_overwrite_a_notebook_someone_worked_in(tmp_path: Path) -> None:
    course = make_built_course(tmp_path)
    target = tmp_path / "notebooks" / "09_demo.ipynb"
    worked = read_notebook(target)
    worked.cells[3].execution_count = 3
    nbformat.write(worked, target)
    report = build(course)
    assert report.refused == ["notebooks/09_demo.ipynb"]
    assert read_notebook(target).cells[3].execution_count == 3
    assert build(course, force=True).written == ["notebooks/09_demo.ipynb"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (MANIFEST.replace('id = "9.1"', 'id = "nine"'), "id must look like '1.2'"),
        (MANIFEST.replace('id = "9.1"', 'id = "8.1"'), "the notebook's number"),
        (
            MANIFEST.replace('hints = ["Return the text from the handler."]', "hints = []"),
            "hints must be a non-empty list",
        ),
        (MANIFEST.replace('title = "Echo"\n', ""), "missing title"),
        (MANIFEST + 'colour = "red"\n', "unknown keys colour"),
        (MANIFEST + "\n" + MANIFEST, "used by more than one exercise"),
        (
            MANIFEST + "\n" + MANIFEST.replace("9.1", "9.0").replace("test_9_0", "test_9_0"),
            "list exercises in course order",
        ),
        ("[[exercises]\n", "not valid TOML"),
    ],
)
def test_manifest_problems_are_listed(tmp_path: Path, text: str, problem: str) -> None:
    make_course(tmp_path)
    (tmp_path / "solutions" / "exercises.toml").write_text(text)
    with pytest.raises(ManifestError, match=r"exercises\.toml") as raised:
        load_course(tmp_path)
    assert problem in str(raised.value)


def test_new_exercise_adds_a_manifest_entry_in_order_and_a_test_skeleton(tmp_path: Path) -> None:
    course = make_built_course(tmp_path)
    added = new_exercise(
        course,
        "9.0",
        title="Warm up: ping!",
        notebook="09_demo.ipynb",
        defines=["register_ping"],
        hints=['Say "pong".'],
    )
    assert added.tests == "test_9_0_warm_up_ping.py"
    reloaded = load_course(tmp_path)
    assert [exercise.id for exercise in reloaded.exercises] == ["9.0", "9.1"]
    assert reloaded.exercise("9.0").hints == ('Say "pong".',)
    skeleton = (tmp_path / "tests" / "exercises" / added.tests).read_text()
    assert 'EXERCISE = "9.0"' in skeleton
    compile(skeleton, added.tests, "exec")
    problems = course_problems(reloaded)
    # The scaffold leaves the spec, the solution and the tests to write, and the
    # integrity checks say so; the cells themselves are there.
    assert not any("exercise-9.0" in line for line in problems), problems
    assert any("replace the TODO(author) the scaffold left" in line for line in problems)
    assert any("TODO placeholders" in line for line in problems), problems
    with pytest.raises(ScaffoldError, match="already"):
        new_exercise(
            reloaded, "9.0", title="x", notebook="09_demo.ipynb", defines=["f"], hints=["h"]
        )


def test_new_exercise_leaves_the_manifest_alone_when_the_entry_is_invalid(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    before = (tmp_path / "solutions" / "exercises.toml").read_text()
    with pytest.raises(ManifestError, match="notebook's number"):
        new_exercise(course, "7.1", title="t", notebook="09_demo.ipynb", defines=["f"], hints=["h"])
    assert (tmp_path / "solutions" / "exercises.toml").read_text() == before
    assert not (tmp_path / "tests" / "exercises" / "test_7_1_t.py").exists()
