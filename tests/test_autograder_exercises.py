"""The real exercises (TensorFlow) through `grade`, as Colab downloads: one batch, two workers.

The reference solutions, renamed the way Colab renames downloads, must score full marks; a student
version as released must score zero, with the visible tests' advice as feedback.
"""

from __future__ import annotations

import io
import shutil

import pytest

import autograder_fixtures  # noqa: F401 (puts the repository on sys.path)
from conftest import ROOT

from autograder.course import Course
from autograder.grade import grade

ASSIGNMENTS = ("rmse_metric", "loss_history", "train_step")
RENAMED = {"rmse_metric": "Copy of rmse_metric.ipynb", "loss_history": "loss_history (1).ipynb",
           "train_step": "Copy of train_step (2).ipynb"}


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    base = tmp_path_factory.mktemp("exercises")
    for assignment in ASSIGNMENTS:
        folder = base / "in" / f"ref-{assignment}"
        folder.mkdir(parents=True)
        shutil.copyfile(ROOT / "solutions" / assignment / f"{assignment}.ipynb", folder / RENAMED[assignment])
    (base / "in" / "blank").mkdir()
    shutil.copyfile(ROOT / "exercises" / "rmse_metric" / "rmse_metric.ipynb", base / "in" / "blank" / "rmse_metric.ipynb")
    return grade([base / "in"], base / "out", course=Course(ROOT), workers=2, stream=io.StringIO())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_solution_downloaded_from_colab_gets_full_marks(real, assignment):
    row = real.by_student(f"ref-{assignment}", assignment)
    failing = [(test["name"], test["message"]) for test in row["tests"] if not test["passed"]]
    assert row["status"] == "graded" and row["score"] == row["max_score"] > 0, (row["error"], failing)
    assert row["error"] is None, row["error"]


def test_released_student_version_scores_zero_with_advice(real):
    row = real.by_student("blank", "rmse_metric")
    assert row["status"] == "graded" and row["score"] == 0 and row["max_score"] > 0, row
    assert all(test["message"] for test in row["tests"]), "every failed test must say something to the student"
