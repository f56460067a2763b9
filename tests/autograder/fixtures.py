"""A synthetic nbgrader course for the autograder tests: two tiny assignments, no TensorFlow.

`tinyadd` has two graded tasks (add: 2 points, mul: 3 points), `tinysub` one (sub: 1 point); a third,
`tinyneg` (neg: 1 point), is only in courses that ask for it (the simulated term's). Grade ids
follow the book's convention: `<assignment>-<task>` for a test cell, `<assignment>-<task>-answer` for
its answer cell. Notebooks are built in code (never committed as .ipynb, which the notebook tests
would hold to the chapter rules).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import nbformat


HIDDEN_MARK = "SECRET_HIDDEN_CHECK"  # appears only inside hidden tests: feedback must never show it

REFERENCE = {
    "tinyadd": {"add": "def add(a, b):\n    return a + b", "mul": "def mul(a, b):\n    return a * b"},
    "tinysub": {"sub": "def sub(a, b):\n    return a - b"},
    "tinyneg": {"neg": "def neg(a):\n    return -a"},
}
TESTS = {
    "tinyadd": {
        "add": (2, "assert add(1, 2) == 3, 'add(1, 2) should be 3: did you return a + b?'",
                "import random\nfor _ in range(5):\n    a, b = random.randint(-9, 9), random.randint(-9, 9)\n"
                "    assert add(a, b) == a + b, f'add({a}, {b}) is wrong'"),
        "mul": (3, "assert mul(2, 3) == 6, 'mul(2, 3) should be 6: did you return a * b?'",
                f"assert mul(-4, 5) == -20, '{HIDDEN_MARK}: mul(-4, 5) must be -20'"),
    },
    "tinysub": {"sub": (1, "assert sub(3, 1) == 2, 'sub(3, 1) should be 2'", "assert sub(0, 4) == -4")},
    "tinyneg": {"neg": (1, "assert neg(3) == -3, 'neg(3) should be -3'", "assert neg(-2) == 2")},
}
TWO = ("tinyadd", "tinysub")  # the assignments of make_course's course, unless asked for more
TERM_SETTINGS = """# grading.toml of a term: due dates and the late policy (tests/autograder/test_term.py, test_late.py)
[grade]
timeout = 60
cell_timeout = 10
csv_bom = true

[late]
percent = 10
per = "day"
max_percent = 50

[assignments.tinyadd]
due = 2026-10-01T23:59:00+09:00
cutoff = 2026-10-08T23:59:00+09:00

[assignments.tinysub]
canvas_id = 9100
due = 2026-10-08T23:59:00+09:00
late = { percent = 5, per = "hour" }

[assignments.tinyneg]
due = 2026-10-15T23:59:00+09:00
late = { percent = 25, per = "day", max_percent = 100 }
"""
CONFIG = '''c = get_config()  # noqa: F821
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
'''


def _meta(grade_id: str, *, grade: bool = False, solution: bool = False, points: int | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def notebook(assignment: str, answers: dict[str, str] | None = None, *, source: bool = False,
             extra_cells: list | None = None) -> nbformat.NotebookNode:
    """A notebook of `assignment`: the source (solutions and hidden tests) or a student's copy.

    A student's copy has the visible tests only; each answer cell holds `answers[task]`, or
    `raise NotImplementedError()` (a blank answer) when the task is not in `answers`.
    """
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    cells = [nbformat.v4.new_markdown_cell(f"# {assignment}\nA tiny exercise for the autograder tests."),
             nbformat.v4.new_code_cell("import math")]
    cells[0].metadata["nbgrader"] = _meta(f"{assignment}-locked-0")
    cells[1].metadata["nbgrader"] = _meta(f"{assignment}-locked-1")
    for task, (points, visible, hidden) in TESTS[assignment].items():
        if source:
            header, body = REFERENCE[assignment][task].split("\n", 1)
            answer = f"{header}\n    ### BEGIN SOLUTION\n{body}\n    ### END SOLUTION"
            test = f"{visible}\n### BEGIN HIDDEN TESTS\n{hidden}\n### END HIDDEN TESTS"
        else:
            answer = (answers or {}).get(task, "raise NotImplementedError()")
            test = visible
        answer_cell = nbformat.v4.new_code_cell(answer)
        answer_cell.metadata["nbgrader"] = _meta(f"{assignment}-{task}-answer", solution=True)
        test_cell = nbformat.v4.new_code_cell(test)
        test_cell.metadata["nbgrader"] = _meta(f"{assignment}-{task}", grade=True, points=points)
        cells += [answer_cell, test_cell]
    for index, cell in enumerate(cells):  # fixed ids: the same call gives the same bytes (golden tests)
        cell.id = f"{assignment}-cell-{index}"
    nb.cells = cells + list(extra_cells or [])
    return nb


def reference(assignment: str) -> nbformat.NotebookNode:
    """A student's copy with correct answers."""
    return notebook(assignment, REFERENCE[assignment])


def make_course(root: Path, assignments: tuple[str, ...] = TWO) -> Path:
    """Write a course folder (config + source notebooks) and return it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(CONFIG, encoding="utf-8")
    for assignment in assignments:
        path = root / "solutions" / assignment / f"{assignment}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook(assignment, source=True), path)
    return root


def write(nb_or_bytes, path: Path, mtime: float | None = None) -> Path:
    """Write a notebook (or raw bytes) to `path`, optionally with a modification time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb_or_bytes, (bytes, bytearray)):
        path.write_bytes(bytes(nb_or_bytes))
    else:
        nbformat.write(nb_or_bytes, path)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def process_table() -> dict[tuple[int, int], tuple[int, str, int]]:
    """(pid, start time) -> (parent pid, state, uid) of every process on this machine."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                uid = entry.stat().st_uid
            except (OSError, IndexError):
                continue
            table[(int(entry.name), int(fields[19]))] = (int(fields[1]), fields[0], uid)
    return table


class Descendants:
    """Every process descending from one process while it runs (sampled twice a second).

    Other grading runs on the same machine use the same sandbox users, so "what this run left behind"
    is told by descent, not by user.
    """

    def __init__(self, root: int) -> None:
        self.root, self.seen = root, {}  # (pid, start time) -> uid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            table = process_table()
            pids = {pid for pid, _ in self.seen} | {self.root}
            for _ in range(64):  # parent links, one generation per pass
                found = {key: uid for key, (parent, _, uid) in table.items() if parent in pids and key[0] not in pids}
                if not found:
                    break
                self.seen.update(found)
                pids |= {pid for pid, _ in found}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def alive(self) -> list[str]:
        """Those still running (zombies, which can do nothing, aside), with their user and command."""
        table = process_table()
        left = []
        for pid, start in sorted(self.seen):
            if (pid, start) in table and table[(pid, start)][1] != "Z":
                try:
                    command = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    command = "?"
                left.append(f"uid {table[(pid, start)][2]} pid {pid}: {command[:150]}")
        return left


def wait_until(condition, what: str, bound: float = 300.0) -> None:
    """Poll `condition` until it holds; fail with `what` if it still does not after `bound` seconds (a
    limit far above what a busy machine needs, so that it only ever catches a hang)."""
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, f"still waiting after {bound:.0f} s: {what}"
        time.sleep(0.2)
