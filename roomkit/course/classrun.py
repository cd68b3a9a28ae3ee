"""Grading a class: one worker process per submission, N at a time, every row recorded once.

Each submission is graded by a fresh ``python -m roomkit.course.grade_worker``
(:mod:`roomkit.course.grade_worker`) in its own process group, on a private copy
of its notebooks (:func:`roomkit.course.submissions.stage`), so that memory is
freed between submissions and nothing one submission does lasts into another's
grading. The grader, this module, runs no submitted code. It:

- runs ``jobs`` workers at a time;
- kills a worker's whole process group at the submission's deadline, and after
  the worker ends, so that a fork left behind dies with it; the row then says
  "grading did not finish within N s";
- reads the worker's report from a pipe of its own, never from its standard
  output, and accepts exactly one well-formed record answering the exercises
  asked; anything else (a crash, an early ``os._exit(0)``, two reports from a
  fork, garbage) gives a row in which every exercise scores 0 and says why;
- appends each row to the results file (JSON lines) as soon as it is known, so
  a crash of the grader loses nothing, and ``resume`` skips submissions already
  recorded there with the same exercises.

The rows of the run are returned in the order of the submissions, one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from roomkit.course.manifest import Course
from roomkit.course.records import BadRecord, Row, read_record, write_record
from roomkit.course.results import ExerciseResult, SubmissionResult
from roomkit.course.submissions import Submission, stage

__all__ = [
    "REPORT_LIMIT",
    "ClassRun",
    "default_deadline",
    "grade_class",
    "read_results",
]

REPORT_LIMIT = 16 * 1024 * 1024  # bytes of report read from one worker, at most
_DRAIN_SECONDS = 2.0  # how long to wait for a report still in flight once the worker ended

RowKey = tuple[str, tuple[str, ...]]


def default_deadline(exercises: int) -> float:
    """The wall-clock limit of one submission's grading: 60 s, plus 30 s per exercise."""
    return 60.0 + 30.0 * exercises


def _key(row: Row) -> RowKey:
    return (row.result.label, tuple(row.selection))


def _submission_key(submission: Submission) -> RowKey:
    return (submission.label, tuple(exercise.id for exercise in submission.exercises))


def read_results(course: Course, path: Path) -> dict[RowKey, Row]:
    """The rows recorded in results file ``path`` (none when it does not exist).

    A line that is not a record (the last one, torn by a crash) is skipped:
    its submission is graded again.
    """
    rows: dict[RowKey, Row] = {}
    if not path.exists():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = read_record(course, line)
        except BadRecord:
            continue
        rows.setdefault(_key(row), row)
    return rows


@dataclass
class ClassRun:
    """How to grade a class.

    :param course: the course.
    :param results: the results file (JSON lines), appended as rows are known.
    :param jobs: how many submissions are graded at once. Default: the CPU count.
    :param sandbox: ``"auto"``, ``"require"`` or ``"off"``, passed to each
        worker's ``grade``. Default ``"auto"``.
    :param deadline: seconds one submission may take, given its number of
        exercises. Default :func:`default_deadline`.
    :param resume: skip submissions already recorded in ``results``; otherwise
        the file is started afresh. Default False.
    :param on_row: called with each row as it is known (resumed ones included),
        e.g. a progress bar. Default None.
    """

    course: Course
    results: Path
    jobs: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)
    sandbox: str = "auto"
    deadline: Callable[[int], float] = default_deadline
    resume: bool = False
    on_row: Callable[[Row, bool], None] | None = None


def _finish(submission: Submission, row: Row | None, problem: str, seconds: float) -> Row:
    """The submission's row: the worker's grades with the exercises it had no notebook for."""
    graded: dict[str, ExerciseResult] = {}
    if row is not None:
        graded = {result.exercise.id: result for result in row.result.exercises}
    results = []
    for exercise in submission.exercises:
        if exercise.id in submission.missing:
            results.append(ExerciseResult(exercise, problem=submission.missing[exercise.id]))
        elif exercise.id in graded:
            results.append(graded[exercise.id])
        else:
            results.append(ExerciseResult(exercise, problem=problem))
    return Row(
        SubmissionResult(submission.label, results, seconds),
        [exercise.id for exercise in submission.exercises],
        {name: str(path) for name, path in submission.notebooks.items()},
        list(submission.notes),
    )


def _unstaged(row: Row, staged: Path, submission: Submission) -> Row:
    """``row`` with the staged copies' paths in its messages replaced by the submitted ones."""
    renames = {str(staged / name): str(path) for name, path in submission.notebooks.items()}

    def fix(text: str) -> str:
        for old, new in renames.items():
            text = text.replace(old, new)
        return text

    for result in row.result.exercises:
        result.problem = fix(result.problem)
        result.results = [
            dataclasses.replace(test, message=fix(test.message)) for test in result.results
        ]
    return row


async def _read_capped(stream: asyncio.StreamReader, into: bytearray) -> None:
    while len(into) <= REPORT_LIMIT:
        chunk = await stream.read(65536)
        if not chunk:
            return
        into.extend(chunk)


def _last_words(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return f" (its last words: {lines[-1][:300]})" if lines else ""


def _why_no_report(status: int | None, log: Path) -> str:
    if status is not None and status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"grading crashed: the grading process was killed by {name}{_last_words(log)}"
    if status == 0:
        return (
            "grading ended without a result: the grading process exited with status 0 before "
            "reporting (does the code call os._exit() or sys.exit()?)"
        )
    return f"grading crashed: the grading process exited with status {status}{_last_words(log)}"


class _Grader:
    """One class run's state: the semaphore, the private folder, the results file."""

    def __init__(self, run: ClassRun, folder: Path) -> None:
        self.run = run
        self.folder = folder
        self.slots = asyncio.Semaphore(max(1, run.jobs))
        self.numbers = iter(range(1, sys.maxsize))

    async def grade(self, submission: Submission) -> Row:
        async with self.slots:
            started = time.perf_counter()
            try:
                if not submission.graded:
                    row = _finish(submission, None, "", 0.0)
                else:
                    row = await self._in_worker(submission, started)
            except OSError as error:  # staging or starting the worker failed: still one row
                problem = f"grading failed: {type(error).__name__}: {error}"
                row = _finish(submission, None, problem, time.perf_counter() - started)
            with self.run.results.open("a", encoding="utf-8") as results:
                results.write(write_record(row))
                results.flush()
                os.fsync(results.fileno())
        if self.run.on_row is not None:
            self.run.on_row(row, False)
        return row

    async def _in_worker(self, submission: Submission, started: float) -> Row:
        work = self.folder / str(next(self.numbers))
        staged = stage(submission, work / "submission")
        log = work / "log"
        deadline = self.run.deadline(len(submission.graded))
        read_end, write_end = os.pipe()
        command = [
            sys.executable, "-m", "roomkit.course.grade_worker", str(staged),
            "--root", str(self.run.course.root),
            "--label", submission.label,
            "--sandbox", self.run.sandbox,
            "--result-fd", str(write_end),
            *(f"--exercise={exercise.id}" for exercise in submission.graded),
        ]  # fmt: skip
        try:
            with log.open("wb") as output:
                process = await asyncio.create_subprocess_exec(
                    *command,
                    cwd=work,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=output,
                    stderr=output,
                    pass_fds=(write_end,),
                    start_new_session=True,
                )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        report = bytearray()
        reader = asyncio.StreamReader(limit=REPORT_LIMIT)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_end, "rb", buffering=0)
        )
        reading = asyncio.ensure_future(_read_capped(reader, report))
        finished = True
        try:
            await asyncio.wait_for(process.wait(), deadline)
        except asyncio.TimeoutError:
            finished = False
        finally:
            # The whole group: the worker at its deadline, and whatever it forked.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(reading), _DRAIN_SECONDS)
        reading.cancel()
        transport.close()
        seconds = time.perf_counter() - started
        if not finished:
            return _finish(
                submission, None, f"grading did not finish within {deadline:g} s", seconds
            )
        row, problem = self._decode(submission, bytes(report), process, log)
        if row is not None:
            row = _unstaged(row, staged, submission)
        return _finish(submission, row, problem, seconds)

    def _decode(
        self, submission: Submission, report: bytes, process: asyncio.subprocess.Process, log: Path
    ) -> tuple[Row | None, str]:
        if len(report) > REPORT_LIMIT:
            return None, f"grading failed: the grading process reported over {REPORT_LIMIT} bytes"
        lines = report.decode("utf-8", errors="replace").splitlines()
        if not lines:
            return None, _why_no_report(process.returncode, log)
        if len(lines) > 1:
            return None, (
                f"grading failed: the grading process reported {len(lines)} results instead of "
                "one (does the code fork?)"
            )
        expected = [exercise.id for exercise in submission.graded]
        try:
            row = read_record(self.run.course, lines[0], expected)
        except BadRecord as error:
            return None, f"grading failed: the grading process's report is unreadable: {error}"
        return row, ""


async def grade_class(run: ClassRun, submissions: Sequence[Submission]) -> list[Row]:
    """Grade ``submissions`` as ``run`` says; one row each, in their order.

    :param run: how to grade.
    :param submissions: the resolved submissions (distinct labels).
    """
    done = read_results(run.course, run.results) if run.resume else {}
    if not run.resume:
        run.results.parent.mkdir(parents=True, exist_ok=True)
        run.results.write_text("", encoding="utf-8")
    rows: dict[RowKey, Row] = {}
    pending = []
    for submission in submissions:
        recorded = done.get(_submission_key(submission))
        if recorded is not None:
            rows[_submission_key(submission)] = recorded
            if run.on_row is not None:
                run.on_row(recorded, True)
        else:
            pending.append(submission)
    with tempfile.TemporaryDirectory(prefix="roomkit-grade-") as folder:
        grader = _Grader(run, Path(folder))
        graded = await asyncio.gather(*(grader.grade(submission) for submission in pending))
    for submission, row in zip(pending, graded, strict=True):
        rows[_submission_key(submission)] = row
    return [rows[_submission_key(submission)] for submission in submissions]
