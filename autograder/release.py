"""Release the graded exercises: nbgrader metadata from visible markers, student versions, validation.

The one source of each exercise is ``solutions/<assignment>/<assignment>.ipynb``. Visible markers in
it decide everything nbgrader needs, so nobody edits nbgrader's JSON by hand:

* A graded test cell starts with the line ``# Test <task> (<N> points)``. It becomes the grade cell
  ``<assignment>-<task>`` worth N points. Its visible checks come first; hidden checks sit between
  ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``.
* The task's title, which feedback pages and Gradescope show, is the last heading of level 2 or deeper
  between the test cell before and its own, without its points: ``## Task 1: one batch (2 points)``
  gives "Task 1: one batch" (a task without one is named by its grade id).
* The answer cell of that task is the cell right before it and holds ``### BEGIN SOLUTION`` ...
  ``### END SOLUTION``. It becomes the autograded answer cell ``<assignment>-<task>-answer``.
* Every other cell is locked (read-only) with the grade id ``<assignment>-locked-<n>``, n its position:
  a cell added to a released exercise would renumber the cells after it, so that notebooks learners
  downloaded before would have those cells overwritten with other cells' sources when graded. Add to
  an existing cell (the hints are in the task statements) rather than inserting one.

``python -m autograder release [ASSIGNMENT ...]`` writes that metadata into the source notebooks (and
clears any outputs), regenerates the student versions (``exercises/<assignment>/<assignment>.ipynb``:
the course's release folder) with nbgrader's GenerateAssignment, and validates with nbgrader: the
source must score full marks and the student version zero on every graded test. ``--check`` writes
nothing and fails when a committed file is out of date; ``--no-validate`` skips the validation (which
runs every notebook). The assignments are those of the course (`--course`), as `grade` finds them.
"""
from __future__ import annotations

import copy
import logging
import re
import tempfile
from pathlib import Path

import nbformat

from .course import Course, nbgrader_config

TEST_MARKER = re.compile(r"# Test (?P<task>[a-z][a-z0-9_]*) \((?P<points>[1-9][0-9]*) points?\)")
BEGIN_SOLUTION = "### BEGIN SOLUTION"
HIDDEN_TESTS = "### BEGIN HIDDEN TESTS"
NBGRADER_SCHEMA_VERSION = 3


class ReleaseError(Exception):
    """A source notebook breaks the marker rules, a file is out of date, or validation failed."""


def _nbgrader(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: int | None = None) -> dict:
    metadata = {"grade": grade, "grade_id": grade_id, "locked": locked,
                "schema_version": NBGRADER_SCHEMA_VERSION, "solution": solution, "task": False}
    if points is not None:
        metadata["points"] = points
    return metadata


def test_marker(cell) -> re.Match | None:
    """The ``# Test <task> (<N> points)`` marker on the first line of a code cell, if any."""
    if cell.cell_type != "code":
        return None
    return TEST_MARKER.fullmatch(cell.source.split("\n", 1)[0].strip())


def add_metadata(notebook: nbformat.NotebookNode, assignment: str, name: str) -> nbformat.NotebookNode:
    """A copy of the notebook with nbgrader metadata written from its markers and outputs cleared (`name`:
    the notebook's path, for messages)."""
    where = name
    notebook = copy.deepcopy(notebook)
    cells = notebook.cells
    problems, tasks = [], []
    for index, cell in enumerate(cells):
        cell.metadata.pop("nbgrader", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        marker = test_marker(cell)
        is_answer = cell.cell_type == "code" and BEGIN_SOLUTION in cell.source
        if marker:
            task, points = marker["task"], int(marker["points"])
            if task in tasks:
                problems.append(f"{where}, cell {index}: a second test cell for task {task!r}; task names must be unique")
            tasks.append(task)
            answer = cells[index - 1] if index else None
            if answer is None or answer.cell_type != "code" or BEGIN_SOLUTION not in answer.source:
                problems.append(f"{where}, cell {index}: the test cell of task {task!r} must come right after "
                                f"its answer cell (a code cell with {BEGIN_SOLUTION!r})")
            if BEGIN_SOLUTION in cell.source:
                problems.append(f"{where}, cell {index}: a test cell cannot also hold a solution")
            cell.metadata["nbgrader"] = _nbgrader(f"{assignment}-{task}", grade=True, solution=False,
                                                  locked=True, points=points)
        elif is_answer:
            following = cells[index + 1] if index + 1 < len(cells) else None
            next_marker = test_marker(following) if following is not None else None
            if next_marker is None:
                problems.append(f"{where}, cell {index}: an answer cell ({BEGIN_SOLUTION!r}) must be followed "
                                "directly by its test cell, whose first line is '# Test <task> (<N> points)'")
                continue
            cell.metadata["nbgrader"] = _nbgrader(f"{assignment}-{next_marker['task']}-answer", grade=False,
                                                  solution=True, locked=False)
        else:
            if HIDDEN_TESTS in cell.source:
                problems.append(f"{where}, cell {index}: hidden tests outside a test cell would reach students")
            cell.metadata["nbgrader"] = _nbgrader(f"{assignment}-locked-{index}", grade=False, solution=False,
                                                  locked=True)
    if not tasks:
        problems.append(f"{where}: no graded test cell (first line '# Test <task> (<N> points)')")
    if problems:
        raise ReleaseError("\n".join(problems))
    return notebook


def render(notebook: nbformat.NotebookNode) -> str:
    """The notebook as the text this repository commits."""
    return nbformat.writes(notebook) + "\n"


def generate(notebook: nbformat.NotebookNode, assignment: str) -> str:
    """The student version of a source notebook (with metadata), as committed text: nbgrader's
    GenerateAssignment (without a gradebook) in a scratch course holding only this source."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory

    with tempfile.TemporaryDirectory(prefix="kdd-release-") as folder:
        course = Path(folder)
        source = course / "source" / assignment / f"{assignment}.ipynb"
        source.parent.mkdir(parents=True)
        source.write_text(render(notebook), encoding="utf-8")
        config = nbgrader_config(course, assignment)
        config.GenerateAssignment.force = True
        config.GenerateAssignment.no_database = True
        config.SaveCells.enabled = False
        converter = GenerateAssignment(coursedir=CourseDirectory(config=config), config=config)
        converter.log.setLevel(logging.ERROR)
        converter.start()
        student = nbformat.read(course / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    return render(student)


def validate(course: Course, assignment: str, *, student_version: bool = True) -> list[str]:
    """Run nbgrader's validator: problems if the source loses a point or the student version earns one."""
    from nbgrader.validator import Validator

    problems = []
    checks = [(course.source_notebook(assignment), False)]
    if student_version:
        checks.append((course.release_notebook(assignment), True))
    for path, invert in checks:
        validator = Validator(invert=invert)
        validator.log.setLevel(logging.WARNING)
        results = validator.validate(str(path))
        relative = path.relative_to(course.root)
        for cell in results.get("failed", []):
            problems.append(f"{relative}: this graded cell does not score full marks with the reference "
                            f"solution:\n{cell['source']}\n{cell['raw_error']}")
        for cell in results.get("passed", []):
            problems.append(f"{relative}: this graded cell passes in the student version (it must fail "
                            f"until the student answers):\n{cell['source']}")
        for cell in results.get("changed", []) + results.get("type_changed", []):
            problems.append(f"{relative}: a locked or graded cell differs from its checksum:\n{cell['source']}")
    return problems


def release(course: Course, assignments: list[str] | None = None, *, check: bool = False,
            run_validation: bool = True, log=print) -> list[Path]:
    """Write metadata into the sources, regenerate the student versions and validate both.

    Returns the files that changed (with ``check=True``: that would change, and nothing is written).
    Raises ReleaseError listing every problem found.
    """
    known = course.assignments()
    if not known:
        raise ReleaseError(f"{course.source_dir} holds no assignments (<id>/<id>.ipynb): check --course.")
    assignments = list(assignments or known)
    unknown = sorted(set(assignments) - set(known))
    if unknown:
        raise ReleaseError(f"unknown assignment(s) {', '.join(unknown)}; {course.source_dir} has "
                           f"{', '.join(known)}")
    changed, problems = [], []
    for assignment in assignments:
        source = course.source_notebook(assignment)
        notebook = add_metadata(nbformat.read(source, as_version=4), assignment, str(source.relative_to(course.root)))
        outputs = {source: render(notebook), course.release_notebook(assignment): generate(notebook, assignment)}
        for path, text in outputs.items():
            if path.exists() and path.read_text(encoding="utf-8") == text:
                continue
            changed.append(path)
            if check:
                problems.append(f"{path.relative_to(course.root)} is out of date: run `python -m autograder release "
                                f"{assignment}` and commit the result")
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                log(f"wrote {path.relative_to(course.root)}")
        if run_validation and not (check and problems):
            log(f"validating {assignment} (runs the source and the student version)...")
            problems.extend(validate(course, assignment))
    if problems:
        raise ReleaseError("\n\n".join(problems))
    return changed
