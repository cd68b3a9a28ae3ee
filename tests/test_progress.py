"""Progress at a glance: ``roomkit grade --summary`` and ``await progress()`` list every
exercise as passed, failed or not started, from the learner's saved notebooks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from course_builder import REPO

ROOMKIT = [sys.executable, "-m", "roomkit"]

# Exercise 1.1 answered wrongly: the sender hears its own message.
WRONG_1_1 = """def register_namespaces(sio, admin_token):
    @sio.on("message", namespace="/chat")
    async def chat_message(sid, text):
        await sio.emit("message", {"user": sid, "text": text}, namespace="/chat")
        return {"ok": True}
"""


def learners_folder(folder: Path) -> Path:
    """Notebook 00 solved, notebook 01 with 1.1 wrong and 1.2 untouched, no other notebook."""
    folder.mkdir()
    shutil.copy(REPO / "solutions" / "00_start_here.ipynb", folder)
    notebook = json.loads((REPO / "notebooks" / "01_namespaces.ipynb").read_text())
    for cell in notebook["cells"]:
        if "exercise-1.1" in cell["metadata"].get("tags", []):
            cell["source"] = WRONG_1_1
    (folder / "01_namespaces.ipynb").write_text(json.dumps(notebook))
    return folder


def test_grade_summary_lists_every_exercise_with_its_status(tmp_path: Path) -> None:
    folder = learners_folder(tmp_path / "mine")
    done = subprocess.run(
        [*ROOMKIT, "grade", "--summary", str(folder), "--root", str(REPO)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == (
        f"Progress in {folder} (saved notebooks): 1 of 17 exercises passed, 1 failed, "
        "15 not started"
    )
    status = {line.split()[1]: line for line in lines[1:18]}
    assert list(status) == [
        "0.1", "1.1", "1.2", "2.1", "2.2", "3.1", "3.2", "3.3",
        "4.1", "4.2", "4.3", "5.1", "5.2", "6.1", "6.2", "7.1", "7.2",
    ]  # fmt: skip
    assert status["0.1"].startswith("  ✓ 0.1  Say hello")
    assert status["0.1"].endswith("  passed")
    assert status["1.1"].startswith("  ✗ 1.1  /chat and /admin on one server")
    assert "failed (" in status["1.1"]
    assert status["1.1"].endswith(" tests pass)")
    assert status["1.2"].endswith("  not started")  # its cell still raises NotImplementedError
    assert status["7.2"].endswith("  not started")  # its notebook is not there
    assert lines[18] == "Next: exercise 1.1 in 01_namespaces.ipynb."


def test_grade_summary_refuses_a_notebook_file(tmp_path: Path) -> None:
    notebook = learners_folder(tmp_path / "mine") / "00_start_here.ipynb"
    done = subprocess.run(
        [*ROOMKIT, "grade", "--summary", str(notebook), "--root", str(REPO)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "not a folder" in done.stderr
