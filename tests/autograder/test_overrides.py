"""Manual changes (overrides.csv): read with a note per bad line, applied to the chosen graded rows only."""

from __future__ import annotations

from pathlib import Path

from autograder.model import Row, Status, TestResult
from autograder.overrides import Override, apply, read


def _row(student: str, scores=(0.0, 1.0), *, chosen: bool = True, status: Status = Status.GRADED) -> Row:
    tests = tuple(TestResult(f"tinyadd-{task}", score, 2.0, score == 2.0, "", True, f"Task {index}: {task}")
                  for index, (task, score) in enumerate(zip(("add", "mul"), scores), start=1))
    return Row(student, "tinyadd", f"in/{student}/tinyadd.ipynb", "0" * 64, status, sum(scores), 4.0, tests,
               chosen=chosen)


def _write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "overrides.csv"
    path.write_text(text, encoding=encoding)
    return path


def test_a_task_line_sets_its_points_and_the_total_follows():
    rows, notes = apply([_row("kim")], [Override("kim", "tinyadd", "add", 2.0, "TA Lee", "office hours", 2)])
    assert notes == []
    [row] = rows
    assert [test.score for test in row.tests] == [2.0, 1.0] and row.score == 3.0
    assert row.to_json()["overrides"] == [{"task": "add", "points": 2.0, "before": 0.0, "by": "TA Lee",
                                           "comment": "office hours", "line": 2}]


def test_the_last_line_of_a_task_wins_and_a_total_comes_after_the_tasks():
    lines = [Override("kim", "tinyadd", "total", 3.5, line=2), Override("kim", "tinyadd", "add", 1.0, line=3),
             Override("kim", "tinyadd", "add", 2.0, line=4)]
    [row], notes = apply([_row("kim")], lines)
    assert notes == [] and row.tests[0].score == 2.0 and row.score == 3.5
    assert [(override.task, override.before, override.line) for override in row.overrides] == [
        ("add", 0.0, 4), ("total", 3.0, 2)]
    again, _ = apply([_row("kim")], list(reversed(lines)))  # the order of lines decides, nothing else
    assert again[0].score == 3.5 and again[0].tests[0].score == 1.0


def test_only_the_chosen_graded_row_changes():
    older, rejected = _row("kim", chosen=False), _row("lee", status=Status.REJECTED)
    rows, notes = apply([older, _row("kim"), rejected], [Override("kim", "tinyadd", "mul", 2.0, line=2),
                                                         Override("lee", "tinyadd", "add", 2.0, line=3)])
    assert rows[0] == older and rows[1].score == 2.0 and rows[2] == rejected
    assert notes == ["overrides.csv, line 3: lee has no graded submission of tinyadd; check the student and "
                     "assignment ids against grades.json. The line was not applied."]


def test_lines_that_cannot_apply_are_notes_and_the_rest_still_applies():
    lines = [Override("kim", "tinyadd", "div", 1.0, line=2), Override("kim", "tinyadd", "add", 3.0, line=3),
             Override("kim", "tinyadd", "total", 9.0, line=4), Override("kim", "tinyadd", "mul", 2.0, line=5)]
    [row], notes = apply([_row("kim")], lines)
    assert row.score == 2.0 and [override.line for override in row.overrides] == [5]
    assert [note.split(":")[0] for note in notes] == [f"overrides.csv, line {line}" for line in (2, 3, 4)]
    assert "no task 'div' (its tasks: add, mul, or total)" in notes[0]
    assert "more than task add's 2" in notes[1] and "more than tinyadd's 4" in notes[2]


def test_a_spreadsheets_file_with_korean_names_is_read(tmp_path):
    path = _write(tmp_path, "Student,Assignment,Task,Points,By,Comment\r\n"
                            "김민수,tinyadd,add,2,조교 이,\"다시 채점, 정답\"\r\n\r\n", encoding="utf-8-sig")
    found, notes = read(path)
    assert notes == [] and found == [Override("김민수", "tinyadd", "add", 2.0, "조교 이", "다시 채점, 정답", 2)]


def test_bad_lines_are_notes_naming_the_line_and_the_others_are_read(tmp_path):
    path = _write(tmp_path, "student,assignment,task,points\nkim,tinyadd,add,two\nkim,tinyadd,,1\n"
                            "kim,tinyadd,add,-1\nkim,tinyadd,add,nan\nkim,tinyadd,mul,1.5\n")
    found, notes = read(path)
    assert found == [Override("kim", "tinyadd", "mul", 1.5, line=6)]
    assert [note.split(":")[0] for note in notes] == [f"overrides.csv, line {line}" for line in (2, 3, 4, 5)]
    assert "task empty" in notes[1] and "'two' is not a number of 0 or more" in notes[0]


def test_a_file_without_the_header_or_not_in_utf8_applies_nothing_and_says_why(tmp_path):
    found, notes = read(_write(tmp_path, "kim,tinyadd,add,2\n"))
    assert found == [] and "its first line must name the columns student,assignment,task,points,by,comment" in notes[0]
    found, notes = read(_write(tmp_path, "student,assignment,task,points\n김,tinyadd,add,2\n", encoding="cp949"))
    assert found == [] and "is not UTF-8 text: save it as 'CSV UTF-8'" in notes[0]
