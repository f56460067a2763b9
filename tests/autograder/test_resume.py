"""Interrupted batches resume without losing or repeating anyone; a stuck job is stopped, the rest goes on."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from tests import ROOT as REPO
from tests.autograder.fixtures import REFERENCE, Descendants, make_course, notebook, reference, wait_until, write

import autograder.grade
from autograder import gradebook, jobs, results, worker
from autograder.sandbox import bwrap
from autograder.course import Course
from autograder.grade import grade
from autograder.limits import Limits
from autograder.pool import Job, WorkerPool

LIMITS = Limits(cell_seconds=20)
ANSWERS = {  # three different notebooks, so that each is a grading job of its own
    "ann": REFERENCE["tinyadd"],
    "ben": {"add": "def add(a, b):\n    return b + a", "mul": "def mul(a, b):\n    return a * b"},
    "cat": {"add": "def add(a, b):\n    return a - b", "mul": "def mul(a, b):\n    return b * a"},
}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return Course(make_course(tmp_path_factory.mktemp("resume") / "course"))


@pytest.mark.slow
def test_interrupted_batch_finishes_the_rest_on_rerun(course, tmp_path, monkeypatch):
    for student, answers in ANSWERS.items():
        write(notebook("tinyadd", answers), tmp_path / "subs" / student / "tinyadd.ipynb")
    out = tmp_path / "out"
    calls = []
    real_result = autograder.grade._result

    def interrupt_on_second(job, reply, out_dir):
        calls.append(job)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if the instructor pressed Ctrl-C mid-batch
        return real_result(job, reply, out_dir)

    monkeypatch.setattr(autograder.grade, "_result", interrupt_on_second)
    with pytest.raises(KeyboardInterrupt):
        grade([tmp_path / "subs"], out, course=course, workers=1, limits=LIMITS, stream=io.StringIO())
    assert len(list((out / "results").glob("*.json"))) == 1, "the one finished result must be kept"
    monkeypatch.undo()

    outcome = grade([tmp_path / "subs"], out, course=course, workers=1, limits=LIMITS, stream=io.StringIO())
    assert (outcome.graded_now, outcome.reused) == (2, 1), (outcome.graded_now, outcome.reused)
    students = [row["student"] for row in json.loads((out / "grades.json").read_text())["submissions"]]
    assert students == ["ann", "ben", "cat"], students
    assert [row.score for row in outcome.rows] == [5, 5, 3], outcome.rows
    manifest = (out / "archive" / "manifest.jsonl").read_text().splitlines()
    assert len([line for line in manifest if '"kind": "submission"' in line]) == 3, "an input was archived twice"


@pytest.mark.slow
def test_stuck_job_is_stopped_and_the_worker_replaced(course, tmp_path):
    spec = course.spec("tinyadd")
    template = gradebook.template(spec, tmp_path / "templates", course.config_file)
    submission = write(reference("tinyadd"), tmp_path / "reference.ipynb")
    queue = []
    for name, hard_seconds in (("stuck", 0.2), ("fine", 120)):
        workdir = tmp_path / name
        jobs.prepare(workdir, spec, template, submission, None)
        payload = {"workdir": str(workdir), "assignment": "tinyadd", "student": jobs.JOB_STUDENT, "config_file": None,
                   "limits": asdict(LIMITS), "threads": 1}
        queue.append(Job(payload, hard_seconds))
    replies = {}
    pool = WorkerPool(1, tmp_path / "logs", worker.workers())
    try:
        pool.run(queue, lambda job, reply: replies.__setitem__(job.workdir.name, reply))
    finally:
        pool.close()
    assert replies["stuck"]["ok"] is False and "did not finish within" in replies["stuck"]["error"], replies
    assert replies["fine"]["ok"] is True, f"the next job must run on a fresh worker: {replies['fine']}"
    assert results.collect(tmp_path / "fine", spec)[0][0].passed, "the fresh worker graded correctly"


def read_or_empty(path: Path) -> str:
    """A file's text, or "" once its job has ended and removed it."""
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def is_kernel(process: str) -> bool:
    """Whether a line of Descendants.alive() is a kernel's: a sandbox uid's process (a kernel forked from
    its worker's template has the template's command line) or, not as root, an ipykernel."""
    uid = int(process.split()[1])
    return bwrap.UID_BASE <= uid < bwrap.UID_BASE + bwrap.UID_COUNT or "ipykernel" in process


@pytest.mark.slow
def test_nothing_outlives_a_killed_grade_run_and_the_rerun_cleans_up(course, tmp_path):
    sleeper = {"add": "import time\nwhile True:\n    time.sleep(0.5)", "mul": REFERENCE["tinyadd"]["mul"]}
    write(notebook("tinyadd", sleeper), tmp_path / "subs" / "sleeper" / "tinyadd.ipynb")
    write(notebook("tinyadd", REFERENCE["tinyadd"]), tmp_path / "subs" / "ann" / "tinyadd.ipynb")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder", "grade", str(tmp_path / "subs"), "--out", str(out), "--course",
               str(course.root), "--workers", "2"]
    # limits far above the wait below: an orphaned kernel would outlive it, so only dying with `grade` passes
    process = subprocess.Popen([*command, "--cell-timeout", "900", "--timeout", "900"], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    descendants = Descendants(process.pid)
    try:
        leftovers: list[Path] = []

        def started() -> bool:
            """A kernel runs, and a job has its socket folder (a worker may still be starting its template)."""
            leftovers[:] = [Path(text) for path in out.glob(".work/*/ipc.path") if (text := read_or_empty(path))]
            return bool(leftovers) and any(is_kernel(line) for line in descendants.alive())

        wait_until(started, "a kernel to start")
        killed_templates = {record: record.read_text() for record in out.glob(".work/kdd-template-*.path")}
        process.kill()  # SIGKILL: `grade` gets no chance to clean up; what it started must die by itself
        process.wait()
        wait_until(lambda: not descendants.alive(), "the workers and kernels of the killed run to end")
    finally:
        descendants.stop()
        process.kill()
    assert leftovers, "the test killed the run before any job had a socket folder: it proves nothing"
    rerun = subprocess.run([*command, "--cell-timeout", "5", "--timeout", "120"], cwd=REPO, capture_output=True,
                           text=True)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    scores = {row["student"]: row["score"] for row in json.loads((out / "grades.json").read_text())["submissions"]}
    assert scores == {"ann": 5, "sleeper": 3}, scores
    jobs_left = sorted(path.name for path in (out / ".work").iterdir()) if (out / ".work").exists() else []
    assert set(jobs_left) <= {"logs", "scratch"}, f"job folders of the killed run remain: {jobs_left}"
    assert not [path for path in leftovers if path.exists()], f"socket folders remain: {leftovers}"
    templates = [Path(folder) for folder in killed_templates.values()]
    assert not [path for path in templates if path.exists()], f"kernel template folders remain: {templates}"


def test_a_template_gradebook_another_run_built_meanwhile_is_kept(course, tmp_path, monkeypatch):
    """Two runs that start together both build the template gradebook; the second to finish must not
    replace the first's, which its jobs are copying from by then."""
    spec = course.spec("tinyadd")
    theirs = gradebook.template(spec, tmp_path / "theirs", course.config_file)
    target = tmp_path / "cache" / theirs.name
    generate = gradebook.generate

    def generate_while_another_run_finishes(*args):
        generate(*args)
        shutil.copytree(theirs, target)
        (target / "in-use").write_text("a job of the other run copies from this folder")

    monkeypatch.setattr(gradebook, "generate", generate_while_another_run_finishes)
    assert gradebook.template(spec, tmp_path / "cache", course.config_file) == target
    assert (target / "in-use").exists(), "the other run's template was replaced"
    assert [path.name for path in (tmp_path / "cache").iterdir()] == [target.name], "the scratch folder remains"
