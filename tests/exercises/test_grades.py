"""The real exercises (TensorFlow) through `grade`, as Colab downloads, with the sandbox and the trusted check.

The notebooks are those of the session fixture `exercise_grades` (catalogue.py: the catalogue,
the reference answers and the blank student version of every assignment, in one `grade` run with two
workers). The reference answers, in files renamed the way Colab renames downloads, must score full
marks; a student version as released must score zero, with the visible tests' advice as feedback.
"""

from __future__ import annotations

import pytest


from tests.exercises.catalogue import ASSIGNMENTS, COLAB_NAMES


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_solution_downloaded_from_colab_gets_full_marks(exercise_grades, assignment):
    row = exercise_grades.of(assignment, "reference").row
    assert row.source.endswith(COLAB_NAMES[assignment]), row.source
    failing = [(test.name, test.message) for test in row.tests if not test.passed]
    assert row.score == row.max_score > 0, (row.error, failing)
    assert row.error is None and not row.flags, (row.error, row.flags)
    assert all(test.trusted for test in row.tests), "the trusted check must confirm every task of the reference"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_student_version_scores_zero_with_advice(exercise_grades, assignment):
    row = exercise_grades.of(assignment, "blank").row
    assert row.score == 0 and row.max_score > 0, row
    assert all(test.message for test in row.tests), "every failed test must say something to the student"
    assert not any(test.trusted for test in row.tests) and not row.flags, (row.tests, row.flags)
