"""What a submission path holds: which notebook to grade for each course notebook.

A submission is a notebook file or a folder of notebooks (its top level only).
Notebooks are matched to exercises by their ``exercise-<id>`` cell tags, whatever
the files are called: ``02_rooms (1).ipynb`` or ``02_rooms-Copy1.ipynb`` is graded
as ``02_rooms.ipynb`` when it holds the cells tagged ``exercise-2.1``.

When a folder holds several notebooks with the exercises of one course notebook
(two copies of it), the grader takes the most recently modified one; on a tie,
the one with the course's name, then the first by name. The submission's notes
say which was graded and which were not.

Reading a notebook here only parses its JSON: no cell runs.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from roomkit.course.manifest import Course, Exercise
from roomkit.course.notebooks import cell_exercise_id, read_notebook

__all__ = ["Submission", "find_submission", "stage"]


@dataclass
class Submission:
    """One submission, resolved: what to grade and what cannot be.

    :param label: the path as given, which names the submission's row.
    :param path: the path itself.
    :param exercises: the exercises the submission is graded on, in course order.
    :param notebooks: for each course notebook name, the file graded for it.
    :param missing: for each exercise without a notebook, why (it is graded 0).
    :param notes: what an instructor should know (which copy was graded).
        Default: none.
    """

    label: str
    path: Path
    exercises: list[Exercise]
    notebooks: dict[str, Path]
    missing: dict[str, str]
    notes: list[str] = field(default_factory=list)

    @property
    def gradable(self) -> bool:
        """Whether any of its exercises has a notebook to grade."""
        return bool(self.notebooks)

    @property
    def graded(self) -> list[Exercise]:
        """The exercises that have a notebook to grade."""
        return [exercise for exercise in self.exercises if exercise.id not in self.missing]


def _exercise_ids(path: Path) -> set[str]:
    """The exercise ids tagged in notebook ``path``; empty when it is not a readable notebook."""
    try:
        notebook = read_notebook(path)
    except Exception:  # not JSON, not a notebook, unreadable: nothing to grade in it
        return set()
    return {
        exercise_id
        for cell in notebook.cells
        if cell.get("cell_type") == "code" and (exercise_id := cell_exercise_id(cell)) is not None
    }


def _newest_first(course_name: str, candidates: Sequence[Path]) -> list[Path]:
    def key(path: Path) -> tuple[int, bool, str]:
        return (-path.stat().st_mtime_ns, path.name != course_name, path.name)

    return sorted(candidates, key=key)


def find_submission(
    course: Course, path: Path, selection: Sequence[Exercise] | None = None
) -> Submission:
    """Resolve submission ``path`` against the course.

    :param course: the course.
    :param path: a notebook file or a folder of notebooks.
    :param selection: grade only these exercises (``--exercise``). Default: all
        of the course's for a folder, those whose cells a file holds for a file.
    """
    chosen = list(selection) if selection else list(course.exercises)
    files = sorted(path.glob("*.ipynb")) if path.is_dir() else [path]
    tagged = {file: _exercise_ids(file) for file in files}
    notebooks: dict[str, Path] = {}
    notes: list[str] = []
    for course_name in dict.fromkeys(exercise.notebook for exercise in chosen):
        ids = {exercise.id for exercise in course.in_notebook(course_name)}
        candidates = [file for file, found in tagged.items() if found & ids]
        if not candidates:
            continue
        ranked = _newest_first(course_name, candidates)
        notebooks[course_name] = ranked[0]
        if ranked[0].name != course_name or len(ranked) > 1:
            others = ", ".join(f"'{other.name}'" for other in ranked[1:])
            notes.append(
                f"graded '{ranked[0].name}' as {course_name}"
                + (f" (the newest; not graded: {others})" if others else "")
            )
    exercises = chosen
    if path.is_file() and notebooks:
        exercises = [exercise for exercise in chosen if exercise.notebook in notebooks]
    where = f"no notebook in {path} has a" if path.is_dir() else f"{path} has no"
    missing = {
        exercise.id: f"{where} cell tagged '{exercise.tag}'"
        for exercise in exercises
        if exercise.notebook not in notebooks
    }
    return Submission(str(path), path, exercises, notebooks, missing, notes)


def stage(submission: Submission, folder: Path) -> Path:
    """Copy the notebooks to grade into ``folder``, each under its course name.

    The grader works on this copy: whatever runs while grading cannot change
    the submitted files, and every notebook has the name the course gives it.
    Returns ``folder``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for course_name, source in submission.notebooks.items():
        shutil.copyfile(source, folder / course_name)
    return folder
