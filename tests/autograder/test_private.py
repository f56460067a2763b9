"""Private courses (private.py): a copy of the course for grading for credit, used with --course."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest

from autograder import trusted
from autograder.course import Course
from autograder.gradescope import build
from autograder.model import UsageError
from autograder.private import create
from autograder.release import release
from tests import ROOT
from tests.autograder.fixtures import REFERENCE, make_course, notebook, write

TINYADD_CHECK = '''"""A private check of tinyadd: add and mul on fresh numbers."""


def check_add(rng, ns):
    return [ns["add"](int(a), int(b)) for a, b in rng.integers(-50, 50, size=(4, 2))]


def check_mul(rng, ns):
    return [ns["mul"](int(a), int(b)) for a, b in rng.integers(-50, 50, size=(4, 2))]
'''


def test_a_private_course_made_from_this_repository_releases_and_bundles_from_itself(tmp_path):
    target = tmp_path / "kdd-private"
    assert create(Course(ROOT), target, ["rmse_metric"]) == ["rmse_metric"]
    private = Course(target)
    assert private.assignments() == ["rmse_metric"] and private.checks_dir == target / "checks"
    assert (target / "exercises/rmse_metric/rmse_metric.ipynb").read_bytes() == \
        (ROOT / "exercises/rmse_metric/rmse_metric.ipynb").read_bytes(), "the same source gives the same student version"
    assert release(private, check=True, run_validation=False) == [], "release --check must find it up to date"
    check = trusted.load("rmse_metric", private.checks_dir)
    assert check is not None and check.tasks == trusted.load("rmse_metric").tasks
    assert private.task_links(private.spec("rmse_metric")) == Course(ROOT).task_links(Course(ROOT).spec("rmse_metric"))
    assert (target / "data" / "mnist-subset.npz").is_file() and "graded/" in (target / ".gitignore").read_text()
    assert "[assignments.rmse_metric]" in (target / "grading.toml").read_text(encoding="utf-8")
    with zipfile.ZipFile(build(private, "rmse_metric", tmp_path / "autograder.zip")) as bundle:
        assert bundle.read("course/checks/rmse_metric.py") == (target / "checks/rmse_metric.py").read_bytes()


@pytest.mark.parametrize("where", ["not empty", "a file", "inside the course"])
def test_it_never_overwrites_and_never_lands_where_students_read(tmp_path, where):
    course = Course(make_course(tmp_path / "course"))
    target = {"not empty": tmp_path / "mine", "a file": tmp_path / "file", "inside the course": course.root / "p"}[where]
    if where == "not empty":
        target.mkdir()
        (target / "notes.md").write_text("mine", encoding="utf-8")
    if where == "a file":
        target.write_text("mine", encoding="utf-8")
    with pytest.raises(UsageError):
        create(course, target)
    if where != "inside the course":
        assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["course", target.name])
        assert (target / "notes.md" if target.is_dir() else target).read_text(encoding="utf-8") == "mine"
    else:
        assert not target.exists()


def test_an_unknown_assignment_is_named(tmp_path):
    with pytest.raises(UsageError, match="nothing: not an assignment"):
        create(Course(make_course(tmp_path / "course")), tmp_path / "p", ["nothing"])
    assert not (tmp_path / "p").exists()


@pytest.mark.slow
def test_grade_uses_the_private_courses_own_checks(tmp_path):
    target = tmp_path / "private"
    done = subprocess.run([sys.executable, "-m", "autograder", "--course", str(make_course(tmp_path / "course")),
                           "private-course", str(target)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "Made the private course" in done.stdout, done.stdout + done.stderr
    (target / "checks").mkdir()
    (target / "checks" / "tinyadd.py").write_text(TINYADD_CHECK, encoding="utf-8")
    write(notebook("tinyadd", REFERENCE["tinyadd"]), tmp_path / "in" / "ann" / "tinyadd.ipynb")
    graded = subprocess.run([sys.executable, "-m", "autograder", "grade", "--course", str(target), str(tmp_path / "in"),
                             "--out", str(tmp_path / "out"), "--timeout", "60", "--cell-timeout", "10"],
                            cwd=ROOT, capture_output=True, text=True)
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-3000:]
    [row] = json.loads((tmp_path / "out" / "grades.json").read_text(encoding="utf-8"))["submissions"]
    assert row["score"] == 5 and [test["trusted"] for test in row["tests"]] == [True, True], row
