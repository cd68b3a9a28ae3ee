"""The course sections of ``docs/benchmarks.md``: feedback speed and grading a class.

(Sealed grading renders its own section: :func:`benchmarks.sealed_grading.section`.)
"""

from __future__ import annotations

from typing import Any

from benchmarks.report_tables import number, table, unavailable

__all__ = ["feedback_section", "grading_section"]


def _kernel_checks(kernel: dict[str, Any]) -> list[str]:
    """The table of ``await check`` timed in fresh Jupyter kernels (empty when not measured)."""
    exercises: dict[str, Any] = kernel.get("exercises", {})
    if not exercises:
        return []
    runs = next(iter(exercises.values())).get("runs")
    out = [
        "",
        "In JupyterLab's kernel (`python3`, driven by jupyter_client), medians of "
        f"{runs} fresh kernel(s) per exercise and case: the time of the notebook's setup "
        "cells and the exercise cell; `await check(id)` run at once after them (cold: it "
        "waits for the warm-up that `from roomkit.check import check` starts); run after "
        "that warm-up finished; and run again (warm). Targets: cold under 1.5 s, warm "
        "under 0.3 s.",
        "",
    ]
    rows = [
        [
            f"`{exercise}`",
            "yes" if timing.get("passed") else "NO",
            number(timing.get("setup"), 3),
            number(timing.get("at_once"), 3),
            number(timing.get("warmed"), 3),
            number(timing.get("warm"), 3),
        ]
        for exercise, timing in exercises.items()
    ]
    headers = ["exercise", "passed", "setup cells (s)", "cold, at once (s)"]
    return out + table([*headers, "cold, warmed up (s)", "warm (s)"], rows)


def feedback_section(feedback: dict[str, Any]) -> list[str]:
    """The feedback-speed section: ``await check`` and ``roomkit grade`` timings."""
    out = ["## Feedback speed", ""]
    reason = unavailable(feedback)
    if reason:
        return [*out, f"Not available: {reason}.", ""]
    out.append(
        f"Measured with a load average of {feedback.get('load_average', '?')} at the start "
        "of this section (other work on the machine makes every figure slower)."
    )
    out.append("")
    out.append(
        "Wall time of `await check(id)` for each exercise, against its reference "
        "solution, in a fresh Python process (like a new kernel), exercises in course "
        "order. The first pass includes the imports the first check of a session pays; "
        "the second is what a learner waits for every later check."
    )
    out.append("")
    checks = feedback.get("checks", {})
    first, second = checks.get("first_pass", {}), checks.get("second_pass", {})
    rows = [
        [
            f"`{exercise}`",
            str(timing.get("tests")),
            "yes" if timing.get("passed") else "NO",
            number(timing.get("seconds"), 3),
            number(second.get(exercise, {}).get("seconds"), 3),
        ]
        for exercise, timing in first.items()
    ]
    out += table(["exercise", "tests", "passed", "first pass (s)", "second pass (s)"], rows)
    out += _kernel_checks(feedback.get("kernel", {}))
    grade = feedback.get("grade", {})
    reason = unavailable(grade)
    if reason:
        out += ["", f"`roomkit grade`: not available: {reason}."]
    elif grade:
        result = grade.get("result") or {}
        out += [
            "",
            f"`{grade.get('command')}` ({grade.get('notebooks')} notebooks, "
            f"{grade.get('exercises')} exercises): {number(grade.get('seconds'), 2)} s, "
            f"exit status {grade.get('status')}, {result.get('passed')} of "
            f"{result.get('total')} exercises passed.",
        ]
    return [*out, ""]


def grading_section(grading: dict[str, Any]) -> list[str]:
    """The grading-a-class section: ``roomkit grade`` over a generated class."""
    out = ["## Grading a class", ""]
    reason = unavailable(grading)
    if reason:
        return [*out, f"Not available: {reason}.", ""]
    out.append(
        f"`roomkit grade` over a generated class of {grading.get('class_size')} submissions "
        f"(exercise {grading.get('exercise')}, two tests; half solved, half not), one worker "
        "process per submission, measured "
        f"{grading.get('generated', 'with the other scenarios')} "
        f"({'`--quick`: toy sizes' if grading.get('quick') else 'full size'}). The load "
        "average is the machine's when the run started: other work on it slows every figure."
    )
    out.append("")
    rows = []
    for name, run in {**grading.get("runs", {}), **grading.get("sealing", {})}.items():
        if unavailable(run):
            rows.append([name, "", "", "", f"not available: {unavailable(run)}"])
            continue
        rows.append(
            [
                f"{name} (`{run.get('options')}`)",
                str(run.get("submissions")),
                number(run.get("seconds"), 1),
                number(run.get("seconds_per_submission"), 2),
                str(run.get("load_average_at_start")),
            ]
        )
    out += table(["run", "submissions", "seconds", "s/submission", "load average"], rows)
    one, two = (grading.get("runs", {}).get(f"jobs {jobs}", {}) for jobs in (1, 2))
    if one.get("seconds") and two.get("seconds"):
        out += [
            "",
            f"`--jobs 2` graded the class {one['seconds'] / two['seconds']:.2f}x as fast as "
            f"`--jobs 1` on this {grading.get('cpus')}-CPU machine. Each submission pays a "
            "fresh Python process (imports, pytest) besides its tests: that is the price of "
            "freeing memory and isolating submissions from each other.",
        ]
    return [*out, ""]
