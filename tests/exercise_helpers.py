"""The misconception catalogue of the graded exercises, and batch grading with nbgrader.

The catalogue (tests/misconceptions/<assignment>.toml) lists, per assignment, known-wrong answers
(each with the tasks it must lose points on and the text the feedback of those tasks must contain)
and alternative correct answers (which must score full marks). An entry gives the source of some
answer cells, by task; the other answer cells keep the reference solution.

Grading is nbgrader's own: a temporary course per batch (this repository's nbgrader_config.py, the
source notebook, `generate_assignment`), one submission per student, one `nbgrader autograde` call
for the whole batch, then the scores from the gradebook and the feedback from the autograded
notebooks. Batches run in parallel, each in its own course folder.

Run `python tests/exercise_helpers.py` to grade the whole catalogue and print the score table.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from autograder import release  # noqa: E402

CATALOGUE = REPO / "tests" / "misconceptions"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


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
    """nbgrader's verdict on one submission."""

    scores: dict[str, tuple[float, float]]  # task -> (score, max score), from the gradebook
    feedback: dict[str, str]  # task -> the test cell's outputs (error, traceback, prints) as text
    log: str = ""

    @property
    def score(self) -> float:
        return sum(score for score, _ in self.scores.values())

    @property
    def max_score(self) -> float:
        return sum(maximum for _, maximum in self.scores.values())


def tasks(assignment: str) -> list[str]:
    """The graded tasks of an assignment, in notebook order."""
    notebook = nbformat.read(release.source_path(assignment), as_version=4)
    return [marker["task"] for marker in map(release.test_marker, notebook.cells) if marker]


def load_catalogue(assignment: str) -> list[Entry]:
    """The catalogue entries of an assignment, checked against its tasks."""
    path = CATALOGUE / f"{assignment}.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
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
    notebook = release.add_metadata(nbformat.read(release.source_path(assignment), as_version=4), assignment)
    answers = {}
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id.endswith("-answer"):
            lines = [line for line in cell.source.splitlines() if line.strip() not in SOLUTION_MARKERS]
            answers[grade_id.split("-")[1]] = "\n".join(lines)
    return answers


def submission(assignment: str, answers: dict[str, str] | None) -> nbformat.NotebookNode:
    """The committed student version with these answer cells filled in (None: the blank notebook)."""
    notebook = nbformat.read(release.release_path(assignment), as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if answers is not None and grade_id.endswith("-answer"):
            cell.source = answers[grade_id.split("-")[1]]
    return notebook


def entry_submission(entry: Entry) -> nbformat.NotebookNode:
    """A catalogue entry as a submission: its answers, and the reference for the other tasks."""
    return submission(entry.assignment, {**reference_answers(entry.assignment), **entry.answers})


@contextlib.contextmanager
def _venv_on_path():
    """nbgrader's gradebook runs `alembic`: make the interpreter's bin/ folder part of PATH."""
    original = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), original])
    try:
        yield
    finally:
        os.environ["PATH"] = original


def prepare_course(course: Path, assignment: str, submissions: dict[str, nbformat.NotebookNode]) -> None:
    """A course folder like this repository, with the assignment generated and the submissions in place."""
    course.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    (course / "data").symlink_to(REPO / "data", target_is_directory=True)  # MNIST for train_step
    source = release.source_path(assignment, course)
    source.parent.mkdir(parents=True)
    shutil.copy(release.source_path(assignment), source)
    release.generate_in_course(course, assignment, database=True)
    for student, notebook in submissions.items():
        path = course / "submitted" / student / assignment / f"{assignment}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(notebook, path)


def autograde_course(course: Path, assignment: str, timeout: float = 1800) -> str:
    """Run `nbgrader autograde` once for every submission in the course; return its log."""
    environment = {**os.environ, "KDD_OFFLINE": "1",
                   "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    result = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", assignment], cwd=course, env=environment,
                            capture_output=True, text=True, timeout=timeout)
    log = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader autograde {assignment} failed in {course} (exit {result.returncode}):\n{log[-4000:]}")
    return log


def read_results(course: Path, assignment: str, students: list[str], log: str = "") -> dict[str, Graded]:
    """Scores from the course's gradebook and feedback text from the autograded notebooks."""
    from nbgrader.api import Gradebook

    results = {}
    with _venv_on_path(), Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in students:
            graded_notebook = gradebook.find_submission_notebook(assignment, assignment, student)
            scores = {grade.name.split("-", 1)[1]: (float(grade.score), float(grade.max_score))
                      for grade in graded_notebook.grades if not grade.name.endswith("-answer")}
            notebook = nbformat.read(course / "autograded" / student / assignment / f"{assignment}.ipynb", as_version=4)
            feedback = {}
            for cell in notebook.cells:
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
                if cell.cell_type == "code" and grade_id.split("-", 1)[1:] and grade_id.split("-", 1)[1] in scores:
                    feedback[grade_id.split("-", 1)[1]] = ANSI.sub("", "\n".join(_output_text(cell)))
            results[student] = Graded(scores, feedback, log)
    return results


def _output_text(cell) -> list[str]:
    texts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            texts.append(f"[{output.name}] {output.text}")
        elif output.output_type == "error":
            texts.extend([f"{output.ename}: {output.evalue}", *output.traceback])
        elif "text/plain" in output.get("data", {}):
            texts.append(output.data["text/plain"])
    return texts


def grade_batches(batches: list[tuple[str, dict[str, nbformat.NotebookNode]]], workdir: Path,
                  workers: int = 2, extra_jobs: dict | None = None) -> tuple[dict, dict]:
    """Grade batches of (assignment, {student: notebook}) in parallel course folders.

    The pool takes the batches in the order given (put the slowest first), then extra_jobs: a name
    for each command (a list) to run from the repository root, so that other slow checks overlap with
    grading. Returns ({(assignment, student): Graded}, {name: (exit code,
    output, seconds)}).
    """
    courses = []
    for index, (assignment, submissions) in enumerate(batches):
        course = Path(workdir) / f"{index:02d}-{assignment}"
        prepare_course(course, assignment, submissions)
        courses.append((course, assignment, list(submissions)))

    def run_command(command):
        started = time.perf_counter()
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                                env={**os.environ, "KDD_OFFLINE": "1"})
        return result.returncode, result.stdout + result.stderr, time.perf_counter() - started

    graded, commands = {}, {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        grade_futures = [(pool.submit(autograde_course, course, assignment), course, assignment, students)
                         for course, assignment, students in courses]
        command_futures = {name: pool.submit(run_command, command) for name, command in (extra_jobs or {}).items()}
        for future, course, assignment, students in grade_futures:
            log = future.result()
            for student, result in read_results(course, assignment, students, log).items():
                graded[assignment, student] = result
        for name, future in command_futures.items():
            commands[name] = future.result()
    return graded, commands


def catalogue_batches(assignments=release.ASSIGNMENTS, batches_per_assignment: int = 2) -> list[tuple[str, dict]]:
    """The reference answers, every catalogue entry and the blank student version, split into batches.

    Each assignment's submissions go into `batches_per_assignment` batches of about equal size, so that
    parallel workers finish together.
    """
    batches = []
    for assignment in assignments:
        submissions = {"reference": submission(assignment, reference_answers(assignment))}
        submissions.update({entry.student: entry_submission(entry) for entry in load_catalogue(assignment)})
        submissions["blank"] = submission(assignment, None)
        students = list(submissions)
        for part in range(batches_per_assignment):
            chosen = students[part::batches_per_assignment]
            if chosen:
                batches.append((assignment, {student: submissions[student] for student in chosen}))
    return batches


def score_table(graded: dict) -> str:
    """A Markdown table of every graded submission's score per task."""
    lines = []
    for assignment in release.ASSIGNMENTS:
        names = tasks(assignment)
        entries = {entry.student: entry for entry in load_catalogue(assignment)}
        lines += [f"\n**{assignment}**\n", "| answer | kind | " + " | ".join(names) + " | total |",
                  "|---|---|" + "---|" * (len(names) + 1)]
        students = ["reference", *entries, "blank"]
        for student in [student for student in students if (assignment, student) in graded]:
            result = graded[assignment, student]
            entry = entries.get(student)
            kind = entry.kind if entry else student
            label = entry.id if entry else student
            cells = [f"{result.scores[task][0]:g}/{result.scores[task][1]:g}" for task in names]
            lines.append(f"| {label} | {kind} | " + " | ".join(cells) + f" | {result.score:g}/{result.max_score:g} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import tempfile

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kdd-catalogue-") as folder:
        results, _ = grade_batches(catalogue_batches(sys.argv[1:] or release.ASSIGNMENTS), Path(folder))
    print(score_table(results))
    print(f"\ngraded {len(results)} submissions in {time.perf_counter() - started:.0f} s")
