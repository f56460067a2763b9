"""The real exercises (TensorFlow) through `grade`, as Colab downloads, with the sandbox and the trusted check.

The notebooks are those of the session fixture `exercise_grades` (catalogue.py: the catalogue,
the reference answers and the blank student version of every assignment, in one `grade` run with two
workers). The reference answers, in files renamed the way Colab renames downloads, must score full
marks; a student version as released must score zero, each task "not answered yet"; feedback pages name
each task by its heading and link it.
"""

from __future__ import annotations

import html

import pytest

from autograder.results import NOT_ANSWERED
from tests.exercises.catalogue import ASSIGNMENTS, COLAB_NAMES, COURSE, trust_flags


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_solution_downloaded_from_colab_gets_full_marks(exercise_grades, assignment):
    row = exercise_grades.of(assignment, "reference").row
    assert row.source.endswith(COLAB_NAMES[assignment]), row.source
    failing = [(test.name, test.message) for test in row.tests if not test.passed]
    assert row.score == row.max_score > 0, (row.error, failing)
    assert row.error is None and not trust_flags(row), (row.error, row.flags)
    assert all(test.trusted for test in row.tests), "the trusted check must confirm every task of the reference"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_student_version_scores_zero_and_every_task_says_not_answered_yet(exercise_grades, assignment):
    row = exercise_grades.of(assignment, "blank").row
    assert row.score == 0 and row.max_score > 0, row
    # not what the test happens to raise first (a NameError sends the learner to __init__): the task is not done
    assert [test.message for test in row.tests] == [NOT_ANSWERED] * len(row.tests), row.tests
    assert not any(test.trusted for test in row.tests) and not trust_flags(row), (row.tests, row.flags)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_feedback_names_each_task_by_its_heading_and_links_its_section(exercise_grades, assignment):
    row = exercise_grades.of(assignment, "reference").row
    spec = COURSE.spec(assignment)
    assert [test.title for test in row.tests] == [test.title for test in spec.tests]
    assert all(test.title.startswith("Task ") and "points" not in test.title for test in row.tests), row.tests
    page = (exercise_grades.outcome.out / "feedback" / "reference" / f"{assignment}.html").read_text(encoding="utf-8")
    links = COURSE.task_links(spec)
    assert len(links) == len(spec.tests), links
    for test in spec.tests:
        assert f'<a href="{html.escape(links[test.grade_id])}">{html.escape(test.title)}</a>' in page, test
        assert test.grade_id not in page, f"the page shows the raw grade id {test.grade_id}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_class_report_of_the_catalogue_finds_the_copied_reference_and_counts_every_row(exercise_grades,
                                                                                            assignment):
    import json

    from autograder.similarity import REFERENCE

    report = json.loads((exercise_grades.outcome.out / "report.json").read_text(encoding="utf-8"))
    entry = next(found for found in report["assignments"] if found["name"] == assignment)
    rows = [row for row in exercise_grades.outcome.rows if row.assignment == assignment and row.chosen]
    assert entry["students"] == len(rows) and sorted(entry["scores"]) == sorted(row.score for row in rows)
    shown = {(test.name, test.message) for row in rows for test in row.tests if not test.passed}
    assert entry["failures"] and all((failure["task"], failure["message"]) in shown for failure in entry["failures"])
    pairs = [pair["students"] for pair in report["similar"] if pair["assignment"] == assignment]
    assert ["reference", REFERENCE] in pairs, "the reference answers, handed in, are the published solution"
    assert not any("blank" in pair for pair in pairs), "the untouched student version is like nobody's code"
