"""grades.json (everything, for people and scripts) and grades.csv (for the LMS gradebook).

grades.csv follows Canvas's gradebook import format: the columns Student, ID, SIS User ID,
SIS Login ID, Section, then one column per assignment; the second row gives the points possible.
Students from a Canvas bulk download are matched by their Canvas user id (column ID); students from
folders by their folder name (column SIS Login ID). Only graded submissions have a score; a blank
cell (rejected, failed or missing) leaves the LMS grade as it is.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .files import atomic_write
from .model import Row, Status

CSV_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


def _cell(text: str) -> str:
    """Text a spreadsheet will not run as a formula (names come from students)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_json(rows: list[Row], path: Path) -> None:
    atomic_write(path, json.dumps({"submissions": [row.to_json() for row in rows]}, indent=2, ensure_ascii=False) + "\n")


def write_csv(rows: list[Row], max_scores: dict[str, float], path: Path, canvas_ids: dict[str, int] | None = None,
              bom: bool = False) -> None:
    """One line per student, one column per assignment that appears in `rows`, headed "name (Canvas id)" where
    grading.toml gives the id (Canvas's own export names them so, and its import matches on it); `bom` starts the
    file with a UTF-8 byte order mark, which spreadsheets on Windows need to read Korean names."""
    assignments = sorted({row.assignment for row in rows if row.assignment})
    students: dict[str, dict] = {}
    for row in rows:
        if not row.student:
            continue
        person = students.setdefault(row.student, {"Student": row.student, "ID": "", "SIS User ID": "",
                                                   "SIS Login ID": row.student, "Section": ""})
        if row.lms == "canvas":
            person.update({"Student": row.student_name or row.student, "ID": row.student, "SIS Login ID": ""})
        if row.status is Status.GRADED and row.assignment:
            person[row.assignment] = f"{row.score:g}"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    ids = canvas_ids or {}
    writer.writerow([*CSV_IDENTITY, *(f"{a} ({ids[a]})" if a in ids else a for a in assignments)])
    writer.writerow(["    Points Possible", "", "", "", "", *(f"{max_scores.get(a, 0):g}" for a in assignments)])
    for student in sorted(students):
        person = students[student]
        writer.writerow([*(_cell(person[key]) for key in CSV_IDENTITY), *(person.get(a, "") for a in assignments)])
    atomic_write(path, ("\ufeff" if bom else "") + buffer.getvalue())
