"""``roomkit grade --feedback DIR``: one feedback file per submission, for its student.

Each file (``<student id>.md``, and ``<student id>.html`` when asked) gives the
total, then each exercise: its score, a mark per public check with the message
the learner would read in ``await check``, the exercise's hints when something
failed, and the hidden checks as a count passed unless the instructor opts in
(``--show-hidden``), when they are listed like the public ones.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from roomkit.course.gradebook import Roster, submission_name
from roomkit.course.reports import MARKS
from roomkit.course.results import ExerciseResult, SubmissionResult

__all__ = ["Block", "feedback_blocks", "render_html", "render_markdown", "write_feedback"]


@dataclass(frozen=True, slots=True)
class Block:
    """One piece of a feedback file, rendered alike in Markdown and HTML.

    :param kind: ``"title"``, ``"heading"``, ``"text"``, ``"item"`` (a check) or
        ``"detail"`` (a message under a check, kept verbatim).
    :param text: its text.
    """

    kind: str
    text: str


def _number(value: float) -> str:
    return f"{value:g}"


def _exercise_blocks(result: ExerciseResult, show_hidden: bool) -> list[Block]:
    exercise = result.exercise
    blocks = [
        Block("heading", f"Exercise {exercise.id} · {exercise.title}"),
        Block("text", f"Score: {_number(result.score)} of {_number(exercise.points)}."),
    ]
    if result.problem:
        blocks.append(Block("detail", result.problem))
    hidden = [test for test in result.results if test.hidden]
    for test in result.results:
        if test.hidden and not show_hidden:
            continue
        label = "hidden check: " if test.hidden else ""
        blocks.append(Block("item", f"{MARKS[test.outcome]} {label}{test.name}"))
        if not test.passed:
            blocks.append(Block("detail", test.message))
    if hidden and not show_hidden:
        passed = sum(test.passed for test in hidden)
        cover = f" (they cover: {exercise.hidden_cover})" if exercise.hidden_cover else ""
        blocks.append(
            Block("text", f"Checks run at grading only: {passed} of {len(hidden)} passed{cover}.")
        )
    if not result.passed:
        blocks.extend(
            Block("text", f"Hint {number}: {hint}")
            for number, hint in enumerate(exercise.hints, start=1)
        )
    return blocks


def feedback_blocks(
    submission: SubmissionResult, student_id: str, *, show_hidden: bool = False
) -> list[Block]:
    """The feedback of ``submission`` as blocks.

    :param submission: the graded submission.
    :param student_id: whose it is.
    :param show_hidden: list the hidden checks and their messages. Default False:
        only how many passed.
    """
    blocks = [
        Block("title", f"Feedback for {student_id}"),
        Block(
            "text",
            f"Total: {_number(submission.score)} of {_number(submission.max_score)} points; "
            f"{submission.passed} of {len(submission.exercises)} exercises passed.",
        ),
    ]
    for result in submission.exercises:
        blocks.extend(_exercise_blocks(result, show_hidden))
    return blocks


def render_markdown(blocks: Sequence[Block]) -> str:
    """The blocks as Markdown (messages in indented code blocks, kept verbatim)."""
    out = []
    for block in blocks:
        if block.kind == "title":
            out.append(f"# {block.text}\n")
        elif block.kind == "heading":
            out.append(f"\n## {block.text}\n")
        elif block.kind == "item":
            out.append(f"- {block.text}")
        elif block.kind == "detail":
            out.append("\n" + "\n".join(f"      {line}" for line in block.text.splitlines()) + "\n")
        else:
            out.append(f"\n{block.text}\n")
    return "\n".join(out).rstrip() + "\n"


def render_html(blocks: Sequence[Block]) -> str:
    """The blocks as a standalone HTML page (every text escaped)."""
    tags = {"title": "h1", "heading": "h2", "item": "li", "detail": "pre", "text": "p"}
    title = next((block.text for block in blocks if block.kind == "title"), "Feedback")
    body = "\n".join(
        f"<{tags[block.kind]}>{html.escape(block.text)}</{tags[block.kind]}>" for block in blocks
    )
    return (
        '<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def write_feedback(
    submissions: Sequence[SubmissionResult],
    directory: Path,
    *,
    roster: Roster | None = None,
    as_html: bool = False,
    show_hidden: bool = False,
) -> list[Path]:
    """Write one feedback file per submission into ``directory`` (created if needed).

    :param submissions: the graded submissions.
    :param directory: where.
    :param roster: names the files by student id. Default: by submission name.
    :param as_html: also write ``<student id>.html``. Default False.
    :param show_hidden: see :func:`feedback_blocks`. Default False.
    :returns: the files written.
    :raises RosterError: when the roster does not list a submission.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for submission in submissions:
        student_id = (
            roster.student(submission)["student_id"]
            if roster is not None
            else submission_name(submission)
        )
        blocks = feedback_blocks(submission, student_id, show_hidden=show_hidden)
        # An id such as "a/b" or ".." must not choose another folder.
        stem = re.sub(r"[^\w@.-]", "_", student_id).lstrip(".") or "_"
        path = directory / f"{stem}.md"
        path.write_text(render_markdown(blocks), encoding="utf-8")
        written.append(path)
        if as_html:
            page = directory / f"{stem}.html"
            page.write_text(render_html(blocks), encoding="utf-8")
            written.append(page)
    return written
