"""The misconception catalogue of the graded exercises, graded the way instructors grade.

The catalogue (tests/exercises/misconceptions/<assignment>.toml) lists, per assignment, known-wrong answers
(each with the tasks it must lose points on and the text the feedback of those tasks must contain)
and alternative correct answers (which must score full marks). An entry gives the source of some
answer cells, by task; the other answer cells keep the reference solution. Where an assignment's tasks
are independent, wrong answers that touch different tasks are graded together in one notebook.

Grading goes through `autograder.grade.grade`, what `python -m autograder grade` runs: every notebook
to grade (the catalogue, the reference answers and the blank student version of every assignment) is
written as `<folder>/<student>/<file>.ipynb` and ONE `grade` call grades them all, in the sandbox, with
the trusted check (autograder/checks/). The session fixture `exercise_grades` (conftest.py) does that
once per test run, for the assignments that the selected tests need (`pytest -k rmse_metric` grades only that one); KDD_GRADING_WORKERS sets the
number of workers (default 2).

Run `python -m tests.exercises.catalogue [ASSIGNMENT ...]` to grade the catalogue and print the score table.
"""
from __future__ import annotations

import io
import re
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import release
from autograder.course import Course
from autograder.grade import Outcome, grade
from autograder.model import Row
from tests import ROOT as REPO

COURSE = Course(REPO)
ASSIGNMENTS = tuple(COURSE.assignments())

CATALOGUE = Path(__file__).parent / "misconceptions"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
# The reference answers are submitted under the names Colab gives downloads, which `grade` must recognise.
COLAB_NAMES = {"rmse_metric": "Copy of rmse_metric.ipynb", "loss_history": "loss_history (1).ipynb",
               "train_step": "Copy of train_step (2).ipynb", "gradient_tape": "Copy of gradient_tape.ipynb",
               "functional_api": "functional_api (3).ipynb", "built_in_training": "Copy of built_in_training (1).ipynb",
               "tf_function": "tf_function (2).ipynb"}


@dataclass(frozen=True)
class Entry:
    """One answer of the catalogue: wrong (must lose points where it says) or correct (full marks)."""

    assignment: str
    id: str
    kind: str  # "wrong" or "correct"
    description: str
    answers: dict[str, str]  # task -> source of its answer cell
    loses: dict[str, str] = field(default_factory=dict)  # wrong only: task -> text its feedback contains

    @property
    def student(self) -> str:
        """The student id this entry is graded under."""
        return f"{self.kind}-{self.id}"


@dataclass
class Graded:
    """The grade of one submission, as grades.json reports it, by task."""

    row: Row

    def _by_task(self, key: str) -> dict:
        return {test.name.split("-", 1)[1]: getattr(test, key) for test in self.row.tests}

    @property
    def scores(self) -> dict[str, tuple[float, float]]:
        """task -> (score, max score): nbgrader's score, capped by the trusted check."""
        return {test.name.split("-", 1)[1]: (test.score, test.max_score) for test in self.row.tests}

    @property
    def feedback(self) -> dict[str, str]:
        """task -> the message the student's feedback page shows."""
        return self._by_task("message")

    @property
    def trusted(self) -> dict[str, bool | None]:
        """task -> whether the trusted check confirmed the task (None: the assignment has no check of it)."""
        return self._by_task("trusted")

    @property
    def score(self) -> float:
        return self.row.score

    @property
    def max_score(self) -> float:
        return self.row.max_score


@dataclass
class Grades:
    """One `grade` run over everything planned, and where each catalogue entry was graded."""

    outcome: Outcome
    graded_as: dict[tuple[str, str], str]  # (assignment, entry id) -> student
    seconds: float = 0.0

    def of(self, assignment: str, student: str) -> Graded:
        """The graded row of one notebook (an AssertionError says why it was not graded)."""
        row = self.outcome.by_student(student, assignment)
        assert row.status == "graded", f"{student}/{assignment} was not graded: {row.error}"
        return Graded(row)

    def entry(self, entry: Entry) -> Graded:
        return self.of(entry.assignment, self.graded_as[entry.assignment, entry.id])


def trust_flags(row: Row) -> list[str]:
    """A row's flags but the integrity ones: the catalogue's answers are the reference with a cell or two
    changed, so their code is alike by design (similarity.py)."""
    return [flag for flag in row.flags if not flag.startswith("integrity:")]


def tasks(assignment: str) -> list[str]:
    """The graded tasks of an assignment, in notebook order."""
    notebook = nbformat.read(COURSE.source_notebook(assignment), as_version=4)
    return [marker["task"] for marker in map(release.test_marker, notebook.cells) if marker]


def _catalogue_data(assignment: str) -> dict:
    return tomllib.loads((CATALOGUE / f"{assignment}.toml").read_text(encoding="utf-8"))


def load_catalogue(assignment: str) -> list[Entry]:
    """The catalogue entries of an assignment, checked against its tasks."""
    path = CATALOGUE / f"{assignment}.toml"
    data = _catalogue_data(assignment)
    known = set(tasks(assignment))
    entries = []
    for kind in ("wrong", "correct"):
        for item in data.get(kind, []):
            entry = Entry(assignment, item["id"], kind, item["misconception" if kind == "wrong" else "approach"],
                          {task: source.strip("\n") for task, source in item["answers"].items()},
                          dict(item.get("loses", {})))
            unknown = (set(entry.answers) | set(entry.loses)) - known
            assert not unknown, f"{path.name}, {entry.id}: unknown task(s) {sorted(unknown)}; tasks are {sorted(known)}"
            assert kind == "correct" or entry.loses, f"{path.name}, {entry.id}: a wrong answer must name what it loses"
            entries.append(entry)
    ids = [entry.id for entry in entries]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate ids"
    return entries


def reference_answers(assignment: str) -> dict[str, str]:
    """The reference solution of each task: its answer cell without the solution markers."""
    path = COURSE.source_notebook(assignment)
    notebook = release.add_metadata(nbformat.read(path, as_version=4), assignment, path.name)
    answers = {}
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id.endswith("-answer"):
            lines = [line for line in cell.source.splitlines() if line.strip() not in SOLUTION_MARKERS]
            answers[grade_id.split("-")[1]] = "\n".join(lines)
    return answers


def submission(assignment: str, answers: dict[str, str] | None) -> nbformat.NotebookNode:
    """The committed student version with these answer cells filled in (None: the blank notebook)."""
    notebook = nbformat.read(COURSE.release_notebook(assignment), as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if answers is not None and grade_id.endswith("-answer"):
            cell.source = answers[grade_id.split("-")[1]]
    return notebook


def submissions(assignment: str) -> dict[str, tuple[nbformat.NotebookNode, list[Entry]]]:
    """What to grade for an assignment: {student: (notebook, the catalogue entries it holds)}.

    The reference answers and the blank student version, every correct answer alone, and the wrong
    answers: alone, or packed several to a notebook when the catalogue declares the tasks independent
    (each pack holds at most one entry per task; the pack's other tasks keep the reference answers).
    """
    reference = reference_answers(assignment)
    planned = {"reference": (submission(assignment, reference), [])}
    packs: list[list[Entry]] = []
    independent = _catalogue_data(assignment)["independent_tasks"]
    for entry in load_catalogue(assignment):
        if entry.kind == "correct":
            planned[entry.student] = (submission(assignment, {**reference, **entry.answers}), [entry])
            continue
        touched = set(entry.answers) | set(entry.loses)
        pack = next((pack for pack in packs if independent and not touched & {task for other in pack
                     for task in (*other.answers, *other.loses)}), None)
        if pack is None:
            packs.append(pack := [])
        pack.append(entry)
    for pack in packs:
        answers = {task: source for entry in pack for task, source in entry.answers.items()}
        student = pack[0].student if len(pack) == 1 else "wrong-" + "+".join(entry.id for entry in pack)[:120]
        planned[re.sub(r"[^A-Za-z0-9_+-]", "_", student)] = (submission(assignment, {**reference, **answers}), pack)
    planned["blank"] = (submission(assignment, None), [])
    return planned


def write_submissions(folder: Path, assignments=ASSIGNMENTS) -> dict[tuple[str, str], str]:
    """Write what to grade as `folder/<student>/<file>.ipynb`; return where each catalogue entry is graded.

    A student folder may hold one notebook of each assignment (the reference answers, for example).
    """
    graded_as = {}
    for assignment in assignments:
        for student, (notebook, entries) in submissions(assignment).items():
            name = COLAB_NAMES[assignment] if student == "reference" else f"{assignment}.ipynb"
            (folder / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, folder / student / name)
            graded_as.update({(assignment, entry.id): student for entry in entries})
    return graded_as


def grade_catalogue(workdir: Path, assignments=ASSIGNMENTS, workers: int = 2) -> Grades:
    """Grade the catalogue, reference answers and blank notebooks of `assignments` in one `grade` run."""
    graded_as = write_submissions(workdir / "in", assignments)
    started = time.perf_counter()
    # no spare seeds: nothing graded later needs reference values for these assignments' next submissions
    outcome = grade([workdir / "in"], workdir / "out", course=Course(REPO), workers=workers, stream=io.StringIO(),
                    spare_seeds=False)
    return Grades(outcome, graded_as, time.perf_counter() - started)


def needed_assignments(items) -> list[str]:
    """The assignments whose grades the selected tests use: all of them unless every such test names its
    assignment (parameter `assignment`, or `entry` of the catalogue), so `-k rmse_metric` grades one."""
    needed = set()
    for item in items:
        if "exercise_grades" not in getattr(item, "fixturenames", ()):
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        assignment = params.get("assignment") or getattr(params.get("entry"), "assignment", None)
        if assignment is None:
            return list(ASSIGNMENTS)
        needed.add(assignment)
    return [assignment for assignment in ASSIGNMENTS if assignment in needed]


def score_table(grades: Grades) -> str:
    """A Markdown table of scores per task; for wrong answers packed with others, only their own tasks.

    A task the trusted check did not confirm is marked with `*`.
    """
    lines = []
    for assignment in ASSIGNMENTS:
        if not any(row.assignment == assignment for row in grades.outcome.rows):
            continue
        names = tasks(assignment)
        lines += [f"\n**{assignment}**\n", "| answer | kind | " + " | ".join(names) + " | total |",
                  "|---|---|" + "---|" * (len(names) + 1)]
        entries = load_catalogue(assignment)
        sharing = [grades.graded_as[assignment, entry.id] for entry in entries]
        rows = [("reference", "reference", "reference", None)]
        rows += [(entry.id, entry.kind, grades.graded_as[assignment, entry.id],
                  set(entry.answers) | set(entry.loses) if sharing.count(grades.graded_as[assignment, entry.id]) > 1
                  else None) for entry in entries]
        rows.append(("blank", "blank", "blank", None))
        for label, kind, student, own_tasks in rows:
            row = grades.outcome.by_student(student, assignment)
            if row.status != "graded":
                lines.append(f"| {label} | {kind} | " + " | ".join([row.status] * len(names)) + " | |")
                continue
            result = Graded(row)
            cells = [f"{result.scores[task][0]:g}/{result.scores[task][1]:g}{'*' * (result.trusted[task] is False)}"
                     if own_tasks is None or task in own_tasks else "·" for task in names]
            total = f"{result.score:g}/{result.max_score:g}" if own_tasks is None else "(shared notebook)"
            lines.append(f"| {label} | {kind} | " + " | ".join(cells) + f" | {total} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kdd-catalogue-") as folder:
        result = grade_catalogue(Path(folder), sys.argv[1:] or ASSIGNMENTS)
        print(score_table(result))
        flagged = [f"{row.student}/{row.assignment}: {flag}" for row in result.outcome.rows for flag in row.flags]
        print("\n".join(["", *flagged]) if flagged else "\nno flags")
        print(f"\ngraded {len(result.outcome.rows)} submissions in {result.seconds:.0f} s")
