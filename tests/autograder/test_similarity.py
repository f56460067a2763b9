"""Code similarity of answer cells (similarity.py) and the class report's data (report.py), without grading."""

from __future__ import annotations

import json

import nbformat
import pytest

from autograder import report, similarity
from autograder.course import Course
from autograder.model import Row, Status, TestResult, UsageError
from autograder.settings import Settings
from tests.autograder import fixtures
from tests.autograder.fixtures import make_course, notebook

LOOP = """def add(a, b):
    # adds whole numbers one at a time
    total = 0
    for value in (a, b):
        if not isinstance(value, int):
            raise TypeError(f"add() takes whole numbers, not {type(value).__name__}")
        total += value
    return total"""
RENAMED = LOOP.replace("total", "acc").replace("value", "item").replace("one at a time", "in a loop")
OTHER = """def add(a, b):
    '''Sums two numbers through a list, with a check of each part first.'''
    parts = [a, b]
    assert all(isinstance(part, (int, float)) for part in parts), 'numbers please'
    return sum(parts)"""


@pytest.fixture
def spec(tmp_path):
    return Course(make_course(tmp_path / "course")).spec("tinyadd")


def _graded(codes: dict[str, str], mul: str | None = None) -> tuple[list[Row], dict[str, bytes]]:
    """tinyadd rows whose add task holds each student's code (and mul `mul`, else the fixture's stub)."""
    rows, blobs = [], {}
    for student, code in codes.items():
        data = nbformat.writes(notebook("tinyadd", {"add": code, **({"mul": mul} if mul else {})})).encode()
        blobs[student] = data
        rows.append(Row(student, "tinyadd", f"{student}.ipynb", student, Status.GRADED, 5, 5, chosen=True))
    return rows, blobs


def test_a_copy_with_new_names_and_comments_is_a_pair_and_other_code_is_not(spec):
    rows, blobs = _graded({"ann": LOOP, "bo": RENAMED, "cy": OTHER})
    found = similarity.pairs(rows, blobs.__getitem__, {"tinyadd": spec}, similarity.Settings())
    assert [(pair.first, pair.second) for pair in found] == [("ann", "bo")]
    assert found[0].shares[0] > 0.9 and "<mark>" in found[0].code[1]
    flagged = similarity.flag(rows, found)
    assert [len(row.flags) for row in flagged] == [1, 1, 0]
    assert flagged[0].flags[0].startswith("integrity: answer code like bo's (") and flagged[0].score == 5


def test_code_too_short_to_judge_or_written_by_most_of_the_class_is_no_pair(spec):
    rows, blobs = _graded({"ann": "def add(a, b):\n    return a + b", "bo": "def add(x, y):\n    return x + y"})
    assert similarity.pairs(rows, blobs.__getitem__, {"tinyadd": spec}, similarity.Settings()) == []
    def alike(ring: int, others: int) -> int:
        """How many pairs a class has where `ring` students wrote LOOP and `others` wrote OTHER."""
        rows, blobs = _graded({f"s{n:02d}": LOOP for n in range(ring)} | {f"t{n:02d}": OTHER for n in range(others)})
        found = similarity.pairs(rows, blobs.__getitem__, {"tinyadd": spec}, similarity.Settings())
        return sum(1 for pair in found if pair.first.startswith("s"))

    assert alike(3, 0) == 3 and alike(10, 0) == 45, "10 students or fewer who share code are always listed"
    assert alike(11, 49) == 55, "11 of 60 (18%) is less than the 25% that everyone writes"
    assert alike(12, 20) == 0 and alike(11, 0) == 0, "12 of 32 and 11 of 11 are more than 10 and 25%: what all write"


def test_code_the_student_version_gives_everyone_never_counts(tmp_path, monkeypatch):
    header = "def add(a, b, *, check=lambda value: isinstance(value, (int, float)) and not isinstance(value, bool)):"
    body = LOOP.split("\n", 1)[1]
    monkeypatch.setitem(fixtures.REFERENCE["tinyadd"], "add", f"{header}\n{body}")  # the header is given
    spec = Course(make_course(tmp_path / "course")).spec("tinyadd")
    given, reference = similarity.given_and_reference(spec)
    assert header in given and "total += value" not in given and "SOLUTION" not in given + reference
    assert reference.startswith(f"{header}\n{body}")
    add, mul = given.split("\n\n")  # the answer cells of the student version, as given
    rows, blobs = _graded({"ann": add, "bo": add}, mul)
    loose = similarity.Settings(threshold=0.01, min_length=1)
    assert similarity.pairs(rows, blobs.__getitem__, {"tinyadd": spec}, loose) == [], "the given code counted"
    rows, blobs = _graded({"ann": f"{header}\n    return a + b", "bo": f"{header}\n    return b + a"})
    assert similarity.pairs(rows, blobs.__getitem__, {"tinyadd": spec}, similarity.Settings()) == []
    rows, blobs = _graded({"ann": f"{header}\n{body}"})
    found = similarity.pairs(rows, blobs.__getitem__, {"tinyadd": spec}, similarity.Settings())
    assert [(pair.first, pair.second) for pair in found] == [("ann", similarity.REFERENCE)]
    assert similarity.flag(rows, found)[0].flags[0].startswith("integrity: answer code like the published")


@pytest.mark.parametrize("data", [b"", b"not json", b"[]", b'{"cells": 5}', b'{"cells": [5, null, {"source": 3}]}',
                                  json.dumps({"cells": [{"metadata": {"nbgrader": {"grade_id": "tinyadd-add-answer"}},
                                                         "source": ["ok", 7, None]}]}).encode()])
def test_answer_code_of_a_hostile_notebook_is_text_or_nothing(spec, data):
    code = similarity.answer_code(data, spec)
    assert isinstance(code, str) and code in ("", "ok")


@pytest.mark.parametrize("table, fix", [
    ("threshold = 2", "between 0 and 1"), ("threshold = 'high'", "between 0 and 1"),
    ("min_length = 0", "whole number"), ("window = 3", "has no setting window"), ("common = 1.5", "between 0 and 1")])
def test_a_bad_similarity_setting_names_the_file_and_the_fix(tmp_path, table, fix):
    root = make_course(tmp_path / "course")
    (root / "grading.toml").write_text(f"[similarity]\n{table}\n", encoding="utf-8")
    with pytest.raises(UsageError, match=fix) as raised:
        Settings.read(Course(root))
    assert "grading.toml" in str(raised.value)


def test_the_similarity_settings_of_grading_toml_are_used(tmp_path):
    root = make_course(tmp_path / "course")
    (root / "grading.toml").write_text("[similarity]\nthreshold = 0.6\nmin_length = 40\ncommon = 0.5\n", "utf-8")
    assert Settings.read(Course(root)).similarity == similarity.Settings(threshold=0.6, min_length=40, common=0.5)


def test_report_data_counts_the_chosen_graded_rows_only():
    passed = TestResult("a-t", 1, 1, True, "", title="Task")
    failed = TestResult("a-t", 0, 1, False, "AssertionError: off by one", title="Task")
    rows = [Row("ann", "a", "x", "1", Status.GRADED, 1, 1, tests=(passed,), chosen=True),
            Row("bo", "a", "x", "2", Status.GRADED, 0, 1, tests=(failed,), chosen=True, flags=("f",)),
            Row("cy", "a", "x", "3", Status.GRADED, 0, 1, tests=(failed,), chosen=True, flags=("f",)),
            Row("cy", "a", "old", "4", Status.GRADED, 1, 1, tests=(passed,), chosen=False),
            Row("dee", "a", "x", None, Status.REJECTED, None, 1, error="not a notebook")]
    data = report.data(rows, [])
    [entry] = data["assignments"]
    assert entry["students"] == 3 and entry["scores"] == [0, 0, 1] and entry["rejected"] == 1
    assert entry["tasks"] == [{"name": "a-t", "title": "Task", "passed": 1, "graded": 3, "pass_rate": 1 / 3}]
    assert entry["failures"] == [{"task": "a-t", "title": "Task", "message": "AssertionError: off by one", "count": 2}]
    assert data["flags"] == [{"assignment": "a", "flag": "f", "students": ["bo", "cy"]}]


def test_the_report_page_escapes_what_students_wrote(tmp_path):
    evil = "<script>alert(1)</script>"
    rows = [Row(evil, "a", "x", "1", Status.GRADED, 0, 1, chosen=True,
                tests=(TestResult("a-t", 0, 1, False, evil),), flags=(evil,))]
    page = report.write(rows, [similarity.Pair("a", evil, "bo", (1.0, 1.0), ("&lt;b&gt;", "x"))], tmp_path)
    html = page.read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;" in html and "default-src 'none'" in html
    assert (tmp_path / "report" / "scores.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["similar"][0]["students"] == [evil, "bo"]


@pytest.mark.slow
def test_a_failing_similarity_check_or_report_costs_no_grade(tmp_path, monkeypatch):
    import io

    from autograder import grade as grading
    from tests.autograder.fixtures import REFERENCE, write

    def broken(*args, **kwargs):
        raise RecursionError("a test")

    monkeypatch.setattr(similarity, "pairs", broken)
    monkeypatch.setattr(report, "write", broken)
    write(notebook("tinyadd", REFERENCE["tinyadd"]), tmp_path / "in" / "ann" / "tinyadd.ipynb")
    outcome = grading.grade([tmp_path / "in"], tmp_path / "out", course=Course(make_course(tmp_path / "course")),
                            stream=io.StringIO())
    assert outcome.by_student("ann", "tinyadd").score == 5 and (tmp_path / "out" / "feedback" / "ann").is_dir()
    notes = " ".join(outcome.notes)
    assert "similarity check could not run (RecursionError" in notes and "class report could not be written" in notes
