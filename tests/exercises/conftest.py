"""The session fixture `exercise_grades`: the misconception catalogue, graded once per test run."""
import os

import pytest

from tests import BUILD
from tests.exercises.catalogue import Grades, grade_catalogue, needed_assignments, score_table


@pytest.fixture(scope="session")
def exercise_grades(request, tmp_path_factory) -> Grades:
    """The planned notebooks of the assignments the selected tests need (normally every assignment),
    graded once per test run (see catalogue.py)."""
    workers = int(os.environ.get("KDD_GRADING_WORKERS", "2"))
    assignments = needed_assignments(request.session.items)
    grades = grade_catalogue(tmp_path_factory.mktemp("exercise-grades"), assignments, workers=workers)
    summary = f"graded {len(grades.outcome.rows)} notebooks in {grades.seconds:.0f} s with {workers} workers"
    table = f"# The misconception catalogue, graded\n\n{summary}.\n{score_table(grades)}\n"
    print(f"\n{table}")
    BUILD.mkdir(exist_ok=True)  # the table, for instructors and closing notes: _build/catalogue-scores.md
    (BUILD / "catalogue-scores.md").write_text(table, encoding="utf-8")
    return grades
