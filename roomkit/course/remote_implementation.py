"""One exercise of a submission as the exercise tests see it: a stand-in whose
code runs in the submission's :class:`~roomkit.course.remote.CandidateHost`.

The ``impl`` fixture hands one to each exercise test under sealed grading. It
loads the exercise's cells into the host once; the judge then asks the host for
servers (:meth:`~roomkit.course.remote.CandidateHost.serve`) and drives them from
the grader. Any other use of the learner's names is a broken test: they live in
another process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from roomkit.course.failures import BrokenTest, ExerciseFailure, NotSolved
from roomkit.course.implementations import CellCode, Implementation
from roomkit.course.remote import LOAD_TIMEOUT, CandidateHost, HostEnded, HostTimeout

__all__ = ["RemoteImplementation"]


@dataclass
class RemoteImplementation(Implementation):
    """One exercise of a submission, run in a :class:`CandidateHost`.

    Its names live in the host: only the judge uses it, through :meth:`CandidateHost.serve`.

    :param host: the submission's host.
    :param cells: the exercise's cells (from the grader's reading of the notebook).
    :param notebook: the notebook's file name, for messages.
    """

    host: CandidateHost | None = None
    cells: list[CellCode] = field(default_factory=list)
    notebook: str = ""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self.problem is not None:
            raise type(self.problem)(str(self.problem))
        raise BrokenTest(
            f"{name} lives in the submission's own process under sealed grading: an exercise "
            "test reaches the learner's code only through check_against_reference or "
            "check_cluster_against_reference"
        )

    def load(self) -> None:
        """Run the exercise's cells in the host, once per host (starting it if need be).

        :raises ExerciseFailure: (or :class:`NotSolved`) when they cannot run; the
            same failure for every later test of the exercise.
        """
        if self.problem is not None:
            raise type(self.problem)(str(self.problem))
        assert self.host is not None
        if self.exercise.id in self.host.loaded:
            return
        exercise = self.exercise
        try:
            answer = self.host.request_now(
                {
                    "op": "load",
                    "exercise": {
                        "id": exercise.id,
                        "title": exercise.title,
                        "notebook": exercise.notebook,
                        "defines": list(exercise.defines),
                        "hints": [],
                        "tests": exercise.tests,
                        "points": exercise.points,
                    },
                    "label": self.label,
                    "notebook": self.notebook,
                    "cells": [[cell.number, cell.filename, cell.source] for cell in self.cells],
                },
                LOAD_TIMEOUT,
            )
        except HostEnded as ended:
            self.problem = ExerciseFailure(f"exercise {exercise.id}: {ended} while loading")
            raise type(self.problem)(str(self.problem)) from None
        except HostTimeout as late:
            self.problem = HostTimeout(f"exercise {exercise.id}: {late}")
            raise type(self.problem)(str(self.problem)) from None
        if "problem" in answer:
            kind = NotSolved if answer.get("not_solved") else ExerciseFailure
            self.problem = kind(str(answer["problem"]))
            raise kind(str(answer["problem"]))
        self.host.loaded.add(exercise.id)
