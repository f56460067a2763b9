"""A job's results read back: nbgrader's score of each test, the message a learner may see, limit notes.

The executed notebook and the job's gradebook come from nbgrader, which ran the student's code: every
text in them is untrusted. A message is shown only in a shape its test cell writes (messages.py), cut
to one line, and withheld when it quotes a hidden test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from . import trusted
from .course import AssignmentSpec, grade_id
from .jobs import JOB_STUDENT, autograded_notebook
from .messages import KERNEL_DIED, NOT_RUN, SLOT, TIMEOUT, allowed
from .model import TestResult

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_MESSAGE = 500
MAX_EVALUE = 2**20  # characters of an error's message read (what is shown comes from its first few thousand)
WITHHELD = "(the message is not shown because it quotes hidden test code)"
STUB = "raise NotImplementedError()"  # the line nbgrader puts in each answer cell of the student version
NOT_ANSWERED = ("Not answered yet: the answer cell of this task still raises NotImplementedError. Replace the "
                "line raise NotImplementedError() with your code, run that cell, then its test cell.")


def collect(workdir: Path, spec: AssignmentSpec, nonces: tuple[str, ...] | list[str] = ()
            ) -> tuple[list[TestResult], str | None, list[dict]]:
    """nbgrader's per-test results, a note when a limit stopped the notebook, and the probes' output
    for each nonce."""
    from nbgrader.api import Gradebook, MissingEntry

    notebook_path = autograded_notebook(workdir, spec)
    executed = json.loads(notebook_path.read_text(encoding="utf-8"))
    cells = executed["cells"]
    by_id = {found: cell for cell in cells if (found := grade_id(cell)) is not None}
    scores: dict[str, tuple[float | None, float]] = {}
    with Gradebook(f"sqlite:///{workdir / 'gradebook.db'}") as gradebook:
        try:
            submitted = gradebook.find_submission_notebook(spec.name, spec.name, JOB_STUDENT)
        except MissingEntry as error:
            raise RuntimeError(f"nbgrader recorded no grades for the job in {workdir}") from error
        for grade in submitted.grades:
            scores[grade.name] = (grade.auto_score, float(grade.max_score))
    tests = []
    for test in spec.tests:
        score, max_score = scores.get(test.grade_id, (None, test.points))
        score = 0.0 if score is None else float(score)
        cell = by_id.get(test.grade_id, {"outputs": []})
        passed = score >= max_score
        if not passed and any(_unanswered(by_id.get(answer)) for answer in test.answers):
            text = NOT_ANSWERED  # what the test says then (often a NameError) would send the learner elsewhere
        else:
            text = message(cell, spec.hidden_lines, passed=passed, patterns=spec.message_patterns(test.grade_id))
        tests.append(TestResult(test.grade_id, score, max_score, passed=passed, message=text))
    own_cells = [cell for cell in cells if trusted.METADATA not in cell.get("metadata", {})]
    return tests, limit_note(own_cells), [trusted.observations(executed, nonce) for nonce in nonces]


def _unanswered(cell: dict | None) -> bool:
    """Whether an executed answer cell still holds the stub line (a stub inside a method raises only when the
    test calls it), or raised NotImplementedError."""
    if not isinstance(cell, dict):
        return False
    source = trusted.output_text(cell.get("source"))
    outputs = cell.get("outputs") if isinstance(cell.get("outputs"), list) else []
    raised = [output.get("ename") for output in outputs if isinstance(output, dict)
              and output.get("output_type") == "error"]
    return any(line.strip() == STUB for line in source.splitlines()) or "NotImplementedError" in raised


def _clean(text: str, hidden: frozenset[str]) -> str:
    """One line of at most MAX_MESSAGE characters, withheld entirely if it quotes a hidden test."""
    text = " ".join(ANSI.sub("", text).split())
    if "HIDDEN TESTS" in text or any(line in text for line in hidden):
        return WITHHELD
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def message(cell: dict, hidden: frozenset[str], passed: bool, patterns: tuple[str, ...] = ()) -> str:
    """What a learner may see about a test cell: the error's name and a message the test itself writes
    (messages.py), never its traceback."""
    outputs = cell.get("outputs", [])
    for output in outputs:
        if output.get("output_type") == "error":
            ename = str(output.get("ename", "Error"))
            evalue = ANSI.sub("", str(output.get("evalue", ""))[:MAX_EVALUE])  # the kernel chose its length
            if ename == "AssertionError" and not evalue.strip():
                return "AssertionError: a check in this test failed."
            if _clean(evalue, hidden) == WITHHELD:  # judged on all of it, before the cuts of what is shown
                return WITHHELD
            return _clean(allowed(ename, evalue, patterns), hidden)
    for output in outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            text = trusted.output_text(output.get("text"))
            first = next((line for line in text.splitlines() if line.strip()), "")[:SLOT]  # student-made text
            return "The test cell wrote to stderr, which nbgrader scores as a failure: " + _clean(first, hidden)
    if not passed:
        return "Partial credit." if any(o.get("output_type") == "execute_result" for o in outputs) else "Not passed."
    return ""


def limit_note(cells: list[dict]) -> str | None:
    """A sentence for grades.json when a time or memory limit stopped part of the notebook."""
    enames = [output.get("ename") for cell in cells for output in cell.get("outputs", [])
              if output.get("output_type") == "error"]
    notes = []
    if TIMEOUT in enames:
        notes.append(f"{enames.count(TIMEOUT)} cell(s) hit the time limit and were stopped")
    if KERNEL_DIED in enames:
        notes.append("the kernel stopped (memory limit, or the code ended the Python process)")
    if "MemoryError" in enames:
        notes.append("a cell ran out of memory (MemoryError)")
    if NOT_RUN in enames:
        notes.append(f"{enames.count(NOT_RUN)} later cell(s) did not run")
    if not notes:
        return None
    return "Limits reached: " + "; ".join(notes) + ". Scored on the cells that finished."
