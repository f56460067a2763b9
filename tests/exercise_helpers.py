"""The misconception catalogue of the graded exercises, and batch grading with nbgrader.

The catalogue (tests/misconceptions/<assignment>.toml) lists, per assignment, known-wrong answers
(each with the tasks it must lose points on and the text the feedback of those tasks must contain)
and alternative correct answers (which must score full marks). An entry gives the source of some
answer cells, by task; the other answer cells keep the reference solution. Where an assignment's tasks
are independent, wrong answers that touch different tasks are graded together in one notebook.

Grading is nbgrader's own: a temporary course per batch (this repository's nbgrader_config.py, the
source notebook, `generate_assignment`), one submission per student, one `nbgrader autograde` call
for the whole batch, then the scores from the gradebook and the feedback from the autograded
notebooks. Batches run in parallel, each in its own course folder.

Run `python tests/exercise_helpers.py` to grade the whole catalogue and print the score table.
"""
from __future__ import annotations

import concurrent.futures
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
    with release.tools_on_path(), Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
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


def catalogue_batches(assignments=release.ASSIGNMENTS, batches_per_assignment: int = 2):
    """Batches for grade_batches, and where each catalogue entry is graded: ({entry id: student})."""
    batches, graded_as = [], {}
    for assignment in assignments:
        planned = submissions(assignment)
        for student, (_, entries) in planned.items():
            graded_as.update({(assignment, entry.id): student for entry in entries})
        students = list(planned)
        for part in range(batches_per_assignment):
            chosen = students[part::batches_per_assignment]
            if chosen:
                batches.append((assignment, {student: planned[student][0] for student in chosen}))
    return batches, graded_as


def score_table(graded: dict, graded_as: dict) -> str:
    """A Markdown table of scores per task; for wrong answers packed with others, only their own tasks."""
    lines = []
    for assignment in release.ASSIGNMENTS:
        if not any(key[0] == assignment for key in graded):
            continue
        names = tasks(assignment)
        lines += [f"\n**{assignment}**\n", "| answer | kind | " + " | ".join(names) + " | total |",
                  "|---|---|" + "---|" * (len(names) + 1)]
        entries = load_catalogue(assignment)
        sharing = [graded_as[assignment, entry.id] for entry in entries]
        rows = [("reference", "reference", "reference", None)]
        rows += [(entry.id, entry.kind, graded_as[assignment, entry.id],
                  set(entry.answers) | set(entry.loses) if sharing.count(graded_as[assignment, entry.id]) > 1 else None)
                 for entry in entries]
        rows.append(("blank", "blank", "blank", None))
        for label, kind, student, own_tasks in rows:
            result = graded[assignment, student]
            cells = [f"{result.scores[task][0]:g}/{result.scores[task][1]:g}" if own_tasks is None or task in own_tasks
                     else "·" for task in names]
            total = f"{result.score:g}/{result.max_score:g}" if own_tasks is None else "(shared notebook)"
            lines.append(f"| {label} | {kind} | " + " | ".join(cells) + f" | {total} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import tempfile

    started = time.perf_counter()
    batches, graded_as = catalogue_batches(sys.argv[1:] or release.ASSIGNMENTS)
    with tempfile.TemporaryDirectory(prefix="kdd-catalogue-") as folder:
        results, _ = grade_batches(batches, Path(folder))
    print(score_table(results, graded_as))
    print(f"\ngraded {len(results)} submissions in {time.perf_counter() - started:.0f} s")
