"""A Canvas bulk download graded as one assignment, into a gradebook database given by URL."""

from __future__ import annotations

import csv
import io
import zipfile

import nbformat
import pytest

from tests.autograder.fixtures import REFERENCE, make_course, notebook, reference

from autograder.course import Course
from autograder.grade import grade
from autograder.limits import Limits

WRONG = nbformat.writes(notebook("tinyadd", {"add": "def add(a, b):\n    return a - b",
                                             "mul": REFERENCE["tinyadd"]["mul"]})).encode()
RIGHT = nbformat.writes(reference("tinyadd")).encode()
DOWNLOAD = {
    "doejane_12345_67890_tinyadd.ipynb": RIGHT,  # her first upload ...
    "doejane_12345_67999_tinyadd-1.ipynb": WRONG,  # ... replaced by a later one (higher submission id)
    "smithjohn_LATE_22222_70000_Copy of tinyadd.ipynb": RIGHT,
    "leekim_33333_70001_tinysub.ipynb": nbformat.writes(reference("tinysub")).encode(),
    "parkmin_44444_70002_과제.ipynb": RIGHT,
}


@pytest.fixture(scope="module")
def canvas(tmp_path_factory):
    base = tmp_path_factory.mktemp("canvas")
    course = Course(make_course(base / "course"))
    download = base / "submissions.zip"
    with zipfile.ZipFile(download, "w") as archive:
        for name, data in DOWNLOAD.items():  # Canvas gives every file of a download the same time stamp
            archive.writestr(zipfile.ZipInfo(name, (2024, 5, 1, 12, 0, 0)), data)
    database = base / "shared-gradebook.db"
    outcome = grade([download], base / "out", course=course, assignment="tinyadd", workers=1,
                    limits=Limits(cell_seconds=20), db_url=f"sqlite:///{database}", stream=io.StringIO())
    return {"outcome": outcome, "out": base / "out", "database": database}


def test_highest_canvas_submission_id_is_the_latest(canvas):
    row = canvas["outcome"].by_student("12345", "tinyadd")
    assert row.score == 3 and row.source.endswith("doejane_12345_67999_tinyadd-1.ipynb"), row
    assert canvas["outcome"].superseded == 1, canvas["outcome"].superseded


def test_late_submission_names_are_understood(canvas):
    row = canvas["outcome"].by_student("22222", "tinyadd")
    assert row.status == "graded" and row.score == 5, row


def test_korean_original_file_name_is_graded(canvas):
    row = canvas["outcome"].by_student("44444", "tinyadd")
    assert row.status == "graded" and row.score == 5, row


def test_notebook_of_another_assignment_is_rejected(canvas):
    rows = [row for row in canvas["outcome"].rows if row.student == "33333"]
    assert len(rows) == 1 and rows[0].status == "rejected", rows
    assert rows[0].error.startswith("'leekim_33333_70001_tinysub.ipynb' is the 'tinysub' notebook, but "
                                       "'tinyadd' was expected"), rows[0].error


def test_csv_matches_canvas_students_by_their_canvas_id(canvas):
    rows = list(csv.reader(io.StringIO((canvas["out"] / "grades.csv").read_text(encoding="utf-8"))))
    by_id = {row[1]: row for row in rows[2:]}
    assert by_id["12345"][:5] == ["doejane", "12345", "", "", ""] and by_id["12345"][5] == "3", by_id["12345"]
    assert by_id["33333"][5] == "", "a rejected notebook leaves the grade blank"


def test_database_url_is_passed_to_nbgrader(canvas):
    from nbgrader.api import Gradebook

    assert not (canvas["out"] / "gradebook.db").exists(), "--db given, yet the default gradebook was created"
    with Gradebook(f"sqlite:///{canvas['database']}") as gradebook:
        scores = {submission.student_id: submission.score for submission in gradebook.assignment_submissions("tinyadd")}
    assert scores == {"12345": 3, "22222": 5, "44444": 5}, scores
