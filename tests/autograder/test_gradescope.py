"""The Gradescope bundle, run against a simulated /autograder tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

from tests.autograder.fixtures import REFERENCE, make_course, notebook, write
from tests import ROOT

from autograder.course import Course
from autograder.gradescope import build


METADATA = {"id": 123456, "created_at": "2026-10-03T11:59:00.000000-07:00", "users": [{"name": "Ann", "sid": "7"}],
            "assignment": {"due_date": "2026-10-01T23:59:00.000000-07:00", "late_due_date": None, "title": "tinyadd"}}


@pytest.fixture(scope="module")
def gradescope(tmp_path_factory):
    base = tmp_path_factory.mktemp("gradescope")
    course = Course(make_course(base / "course"))
    # the late policy travels in the bundle; Gradescope's metadata says when it was due (not this file's 2030)
    (course.root / "grading.toml").write_text('[late]\npercent = 10\n[assignments.tinyadd]\n'
                                              'due = 2030-01-01T00:00:00+09:00\n', encoding="utf-8")
    bundle = build(course, "tinyadd", base / "autograder.zip")
    root = base / "autograder"  # what Gradescope's container holds
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    wrong_add = {"add": "def add(a, b):\n    return a - b", "mul": REFERENCE["tinyadd"]["mul"]}
    write(notebook("tinyadd", wrong_add), root / "submission" / "Copy of tinyadd.ipynb")
    (root / "submission" / "notes.txt").write_text("my notes")
    (root / "submission_metadata.json").write_text(json.dumps(METADATA), encoding="utf-8")
    script = root / "source" / "run_autograder"
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    run = subprocess.run(["bash", str(script)], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    results = root / "results" / "results.json"
    return {"bundle": bundle, "run": run, "results": json.loads(results.read_text()) if results.exists() else None}


def test_bundle_has_what_gradescope_needs(gradescope):
    with zipfile.ZipFile(gradescope["bundle"]) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        requirements = archive.read("requirements.txt").decode()
    for name in ("setup.sh", "run_autograder", "requirements.txt", "autograder/grade.py",
                 "course/nbgrader_config.py", "course/solutions/tinyadd/tinyadd.ipynb"):
        assert name in names, f"the bundle lacks {name}"
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111, "scripts must be executable"
    pins = (ROOT / "requirements.txt").read_text()
    for line in requirements.splitlines():
        assert line in pins, f"{line} is not the version pinned in requirements.txt"


def test_run_autograder_writes_gradescope_results(gradescope):
    run, results = gradescope["run"], gradescope["results"]
    assert run.returncode == 0 and results is not None, run.stdout[-3000:] + run.stderr[-3000:]
    assert isinstance(results["execution_time"], int), results
    # Gradescope's metadata: 1 day 12 hours after its due date, 10% a started day: 20% of the 3 points earned
    assert results["score"] == pytest.approx(2.4), results
    assert "1 day(s) 12 hour(s) after the due date (2026-10-01 23:59 UTC-07:00)" in results["output"], results
    tests = {test["name"]: test for test in results["tests"]}
    assert set(tests) == {"tinyadd-add", "tinyadd-mul"}, tests
    assert tests["tinyadd-add"]["status"] == "failed" and tests["tinyadd-add"]["score"] == 0, tests
    assert tests["tinyadd-add"]["max_score"] == 2 and "did you return a + b?" in tests["tinyadd-add"]["output"]
    assert tests["tinyadd-mul"]["status"] == "passed" and tests["tinyadd-mul"]["score"] == 3, tests
    assert sum(test["max_score"] for test in results["tests"]) == 5


def test_empty_submission_still_gets_results():
    from autograder.gradescope import results_json

    results = results_json([], seconds=1.2)
    assert results["score"] == 0 and "No notebook (.ipynb) was found" in results["output"], results


def test_bundle_carries_the_whole_package_with_its_trusted_checks(tmp_path):
    """Inside Gradescope the trusted check is read from the bundled package: every module, checks/ too."""
    bundle = build(Course(ROOT), "rmse_metric", tmp_path / "autograder.zip")
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "source")
    package = ROOT / "autograder"
    wanted = {f"autograder/{path.relative_to(package).as_posix()}" for path in package.rglob("*.py")
              if "__pycache__" not in path.parts}
    assert "autograder/checks/rmse_metric.py" in wanted, "the repository's rmse_metric check moved: update this test"
    assert not wanted - names, f"the bundle lacks {sorted(wanted - names)}"
    from autograder import trusted

    check = trusted.load("rmse_metric", tmp_path / "source" / "autograder" / "checks")
    assert check is not None and check.tasks, "the bundled package has no trusted check for rmse_metric"
    # Gradescope's results link each task to the book, as feedback pages do: the links travel in the bundle
    from autograder.gradescope import _links

    links = _links(tmp_path / "source" / "course")
    assert links == Course(ROOT).task_links(Course(ROOT).spec("rmse_metric")) and len(links) == 4, links


def test_setup_installs_bubblewrap_and_setpriv(gradescope):
    with zipfile.ZipFile(gradescope["bundle"]) as archive:
        setup = archive.read("setup.sh").decode()
    install = next(line for line in setup.splitlines() if line.startswith("apt-get install"))
    assert "bubblewrap" in install.split() and "util-linux" in install.split(), install


@pytest.fixture(scope="module")
def without_namespaces(tmp_path_factory):
    """run_autograder in a container whose bwrap cannot create namespaces (Gradescope's Docker)."""
    from tests.autograder import container

    if container.available() is not None:
        pytest.skip(container.available())
    base = tmp_path_factory.mktemp("gradescope-no-namespaces")
    bundle = build(Course(make_course(base / "course")), "tinyadd", base / "autograder.zip")
    root, inside = base / "autograder", container.AUTOGRADER  # /autograder of the container
    container.unpack_bundle(bundle, root)
    wrong_add = {"add": "def add(a, b):\n    return a - b", "mul": REFERENCE["tinyadd"]["mul"]}
    write(notebook("tinyadd", wrong_add), root / "submission" / "tinyadd.ipynb")
    env = {**os.environ, "AUTOGRADER_ROOT": inside, "AUTOGRADER_PYTHON": sys.executable}
    run = subprocess.run(container.no_namespaces(["bash", f"{inside}/source/run_autograder"], {root: inside}),
                         cwd="/", env=env, capture_output=True, text=True, timeout=600)
    results = root / "results" / "results.json"
    return {"root": root, "run": run, "results": json.loads(results.read_text()) if results.exists() else None}


def test_without_namespaces_gradescope_grades_in_the_uid_tier(without_namespaces):
    run, results = without_namespaces["run"], without_namespaces["results"]
    assert run.returncode == 0 and results is not None, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Sandbox tier 'uid'" in run.stdout, f"the instructor's log must name the tier: {run.stdout[-2000:]}"
    assert "network is NOT cut" in run.stdout, "the instructor's log must say that this tier leaves the network open"
    assert results["score"] == 3, results


def test_without_namespaces_the_bundle_is_made_private_before_grading(without_namespaces):
    source = without_namespaces["root"] / "source"
    mode = source.stat().st_mode
    assert mode & 0o077 == 0, f"the bundle (solutions, checks) stays readable by others: {oct(mode)}"


def test_where_no_sandbox_tier_works_gradescope_grades_nothing_and_tells_the_instructor(tmp_path, monkeypatch,
                                                                                         capsys):
    from autograder import gradescope
    from autograder.sandbox import tiers
    from autograder.model import UsageError

    def refuse(unsafe=False):
        raise UsageError("student code cannot be isolated on this machine (a test)")

    monkeypatch.setattr(tiers, "choose", refuse)
    write(notebook("tinyadd", REFERENCE["tinyadd"]), tmp_path / "submission" / "tinyadd.ipynb")
    results = gradescope.run(tmp_path, "tinyadd")
    assert results["score"] == 0 and "could not be graded" in results["output"], results
    assert "isolated" not in results["output"], "the reason is for the instructor, not the student"
    assert "cannot be isolated" in capsys.readouterr().out, "the instructor's log must say why nothing was graded"
    assert json.loads((tmp_path / "results" / "results.json").read_text()) == results


@pytest.mark.parametrize("text, expected", [
    (None, (None, None)), ("not json", (None, None)), ("[]", (None, None)), ('{"assignment": 5}', (None, None)),
    ('{"created_at": "2026-10-03T11:59:00"}', (None, None)), ('{"created_at": "yesterday"}', (None, None)),
    (json.dumps(METADATA), (1791053940.0, METADATA["assignment"]["due_date"]))])
def test_gradescope_metadata_gives_the_times_it_states_and_nothing_else(tmp_path, text, expected):
    from autograder.gradescope import submission_times

    path = tmp_path / "submission_metadata.json"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    assert submission_times(path) == expected
