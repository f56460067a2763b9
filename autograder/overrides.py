"""Manual changes to grades: `overrides.csv`, merged into grades.json, grades.csv, the gradebook and feedback.

A TA who regrades a task by hand writes one line of a CSV file (UTF-8; a spreadsheet's byte-order mark is
fine), with the header `student,assignment,task,points,by,comment` (`by` and `comment` may be empty):

    student,assignment,task,points,by,comment
    kim,rmse_metric,streaming,2,TA Lee,reset_state was right; the test ran out of time
    park,rmse_metric,total,5,Prof. Choi,late work accepted: family emergency

`task` is a task's name (its grade id without the assignment, as in grades.json) or `total`. A task line
sets that task's points (the total follows, less any late penalty); a total line sets the total, after the
task lines and the late penalty. For the
same student, assignment and task the last line wins, so the file is a log a TA may append to. The line
changes the student's chosen graded submission; every grading run applies the file again, so a rerun
keeps the changes, and the file itself is never written. grades.json keeps, per row, what changed, from
what, by whom and why (`overrides`); the feedback page shows it. A line that cannot be applied is a note
naming its line and the fix; the other lines still apply.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

from .late import with_lateness
from .model import Row, Status

FILE = "overrides.csv"  # in the output folder, unless --overrides names another
COLUMNS = ("student", "assignment", "task", "points", "by", "comment")
REQUIRED = COLUMNS[:4]
TOTAL = "total"


@dataclass(frozen=True)
class Override:
    """One line of overrides.csv, applied: what it changed, from what, by whom and why."""

    student: str
    assignment: str
    task: str  # a task name, or "total"
    points: float
    by: str = ""
    comment: str = ""
    line: int = 0
    before: float | None = None  # the points before the change (set when applied)

    def to_json(self) -> dict:
        return {"task": self.task, "points": self.points, "before": self.before, "by": self.by,
                "comment": self.comment, "line": self.line}


def read(path: Path) -> tuple[list[Override], list[str]]:
    """The lines of an overrides file, and a note for each line (or header) that cannot be read."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return [], [f"{name} is not UTF-8 text: save it as 'CSV UTF-8' and run again; no override was applied."]
    except OSError as error:
        return [], [f"{name} could not be read ({error.strerror}); no override was applied."]
    reader = csv.DictReader(text.splitlines())
    header = [column.strip().lower() for column in reader.fieldnames or []]
    missing = [column for column in REQUIRED if column not in header]
    if missing:
        return [], [f"{name}: its first line must name the columns {','.join(COLUMNS)} (by and comment may be "
                    f"empty); {', '.join(missing)} missing. No override was applied."]
    reader.fieldnames = header
    found, notes = [], []
    for number, record in enumerate(reader, start=2):
        values = {column: (record.get(column) or "").strip() for column in COLUMNS}
        if not any(values.values()):
            continue
        empty = [column for column in REQUIRED if not values[column]]
        if empty:
            notes.append(f"{name}, line {number}: {', '.join(empty)} empty; the line was not applied.")
            continue
        try:
            points = float(values["points"])
        except ValueError:
            points = float("nan")
        if not points >= 0 or points == float("inf"):
            notes.append(f"{name}, line {number}: points {values['points']!r} is not a number of 0 or more; the "
                         "line was not applied.")
            continue
        found.append(Override(values["student"], values["assignment"], values["task"], points, values["by"],
                              values["comment"], number))
    return found, notes


def apply(rows: list[Row], overrides: list[Override], name: str = FILE) -> tuple[list[Row], list[str]]:
    """`rows` with the overrides applied to each student's chosen graded row; a note per line not applied."""
    latest: dict[tuple[str, str, str], Override] = {}
    for override in overrides:  # the last line of a task wins
        latest[override.student, override.assignment, override.task] = override
    chosen = {(row.student, row.assignment): index for index, row in enumerate(rows)
              if row.chosen and row.status is Status.GRADED}
    rows, notes = list(rows), []
    ordered = sorted(latest.values(), key=lambda override: (override.task == TOTAL, override.line))
    for override in ordered:
        where = f"{name}, line {override.line}"
        index = chosen.get((override.student, override.assignment))
        if index is None:
            notes.append(f"{where}: {override.student} has no graded submission of {override.assignment}; check "
                         "the student and assignment ids against grades.json. The line was not applied.")
            continue
        row = rows[index]
        if override.task == TOTAL:
            if override.points > (row.max_score or 0):
                notes.append(f"{where}: {override.points:g} points is more than {override.assignment}'s "
                             f"{row.max_score:g}; the line was not applied.")
                continue
            applied = replace(override, before=row.score)
            rows[index] = replace(row, score=override.points, overrides=(*row.overrides, applied))
            continue
        tests = {test.task: position for position, test in enumerate(row.tests)}
        if override.task not in tests:
            notes.append(f"{where}: {override.assignment} has no task {override.task!r} (its tasks: "
                         f"{', '.join(tests)}, or total); the line was not applied.")
            continue
        test = row.tests[tests[override.task]]
        if override.points > test.max_score:
            notes.append(f"{where}: {override.points:g} points is more than task {override.task}'s "
                         f"{test.max_score:g}; the line was not applied.")
            continue
        changed = list(row.tests)
        changed[tests[override.task]] = replace(test, score=override.points)
        row = replace(row, tests=tuple(changed), overrides=(*row.overrides, replace(override, before=test.score)))
        rows[index] = replace(row, score=with_lateness(row.earned, row.late))
    return rows, notes
