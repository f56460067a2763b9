"""Feedback pages: one self-contained HTML file per student and assignment.

A page shows each task's title (linked to its section of the book when the course names the book's
address), points and message, and any change an instructor made by hand (overrides.py), nothing else
from the notebook: no code, no outputs, no tracebacks
(which can quote hidden tests). Every text is HTML-escaped and the page forbids
scripts with a Content-Security-Policy, so nothing a student wrote can run in a reader's browser.
"""

from __future__ import annotations

import io
import re
import zipfile
from html import escape
from pathlib import Path
from typing import Mapping

from . import identity
from .files import atomic_write, safe_component
from .model import Row, Status
from .overrides import TOTAL

CANVAS = "canvas-feedback"  # <assignment>.zip per assignment: the pages of Canvas students, named for re-upload

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .4rem .6rem; text-align: left; vertical-align: top; }
td.points { white-space: nowrap; }
.passed { color: #176f2c; } .failed { color: #a4161a; }
.note { background: #fff6d6; padding: .6rem .8rem; border-radius: 4px; }
footer { margin-top: 2rem; color: #666; font-size: .85rem; }
"""


def _points(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:g}"


def render(row: Row, links: Mapping[str, str] | None = None) -> str:
    """The feedback page for one grades.json row; `links`: grade id -> the address of its task's section."""
    title = f"{row.assignment}: feedback for {row.student}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
    ]
    if row.status is Status.GRADED:
        parts.append(f"<p><strong>Score: {_points(row.score)} / {_points(row.max_score)}</strong></p>")
        if row.late:
            parts.append(f'<p class="note">{escape(row.late.describe(row.earned))}</p>')
        if row.error:
            parts.append(f'<p class="note">{escape(row.error)}</p>')
        parts.append("<table><thead><tr><th>Task</th><th>Points</th><th>Result</th><th>Message</th></tr></thead><tbody>")
        for test in row.tests:
            verdict = "passed" if test.passed else "failed"
            name = escape(test.title or test.name)
            if (links or {}).get(test.name):
                name = f'<a href="{escape(links[test.name])}">{name}</a>'
            parts.append(
                f"<tr><td>{name}</td>"
                f'<td class="points">{_points(test.score)} / {_points(test.max_score)}</td>'
                f'<td class="{verdict}">{verdict}</td><td>{escape(test.message)}</td></tr>')
        parts.append("</tbody></table>")
        parts += _overrides(row)
    elif row.status is Status.REJECTED:
        parts.append("<p><strong>Your file could not be graded.</strong></p>")
        parts.append(f'<p class="note">{escape(row.error or "")}</p>')
    else:
        parts.append("<p><strong>Your notebook could not be graded automatically; "
                     "your instructor has been told and will look at it.</strong></p>")
    parts.append(f"<footer>File: {escape(Path(row.source).name)} · SHA-256 {escape((row.sha256 or '')[:12])}"
                 "</footer></body></html>")
    return "\n".join(parts) + "\n"


def _overrides(row: Row) -> list[str]:
    """The manual changes to a graded row (overrides.csv): what changed, from what, by whom and why."""
    if not row.overrides:
        return []
    titles = {test.task: test.title or test.name for test in row.tests}
    items = []
    for override in row.overrides:
        what = "Total" if override.task == TOTAL else titles.get(override.task, override.task)
        who = f", by {override.by}" if override.by else ""
        why = f": {override.comment}" if override.comment else ""
        items.append(f"<li>{escape(what)}: {_points(override.before)} → {_points(override.points)} points"
                     f"{escape(who)}{escape(why)}</li>")
    return ['<h2>Changed by your instructor</h2>', "<ul>", *items, "</ul>"]


def pages(rows: list[Row], links: Mapping[str, Mapping[str, str]] | None = None) -> list[tuple[Row, str]]:
    """Each row that names a student and an assignment, with its page (rendered once for `write` and
    `canvas_bundles`). `links`: assignment -> grade id -> the address of the task's section in the published
    book (Course.task_links)."""
    return [(row, render(row, (links or {}).get(row.assignment))) for row in rows if row.student and row.assignment]


def write(rendered: list[tuple[Row, str]], folder: Path) -> list[Path]:
    """Write `folder/<student>/<assignment>.html` for each rendered page (`pages`); return the paths.

    Student ids that look alike get folder names that differ (identity.folder_names), so no page
    overwrites another student's, even on a case-insensitive disk. A page an earlier run wrote under
    a name no longer used (a student whose look-alike arrived since) is removed, so none is stale.
    """
    written = []
    names = identity.folder_names(row.student for row, _ in rendered)
    for row, page in rendered:
        path = folder / names[row.student] / f"{safe_component(row.assignment)}.html"
        atomic_write(path, page)
        written.append(path)
    for page in set(folder.glob("*/*.html")) - set(written):
        page.unlink()
        if not any(page.parent.iterdir()):
            page.parent.rmdir()
    return written


def _canvas_name(row: Row) -> str:
    """A page's file name in a Canvas re-upload zip: the download's `<name>_<user id>_<attachment id>_` start,
    by which Canvas attaches each file to its student's submission, then what it is."""
    name = re.sub(r"[\W_]", "", row.student_name or "") or "student"
    name = "student" if name.isdigit() else name
    return f"{name}_{row.student}_{row.lms_submission}_{safe_component(row.assignment or '')}-feedback.html"


def canvas_bundles(rendered: list[tuple[Row, str]], folder: Path) -> list[Path]:
    """`folder/<assignment>.zip` of the feedback pages of the students of a Canvas download, for the
    assignment's "Re-upload submissions" (each page becomes a comment attachment); the same rows give the same
    bytes. A zip of an earlier run whose assignment has no Canvas student now is removed (ours, not an input)."""
    by_assignment: dict[str, list[tuple[Row, str]]] = {}
    for row, page in rendered:
        if row.lms == "canvas" and row.lms_submission is not None:
            by_assignment.setdefault(row.assignment, []).append((row, page))
    written = []
    for assignment, group in sorted(by_assignment.items()):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
            for row, page in sorted(group, key=lambda pair: _canvas_name(pair[0])):
                entry = zipfile.ZipInfo(_canvas_name(row), date_time=(1980, 1, 1, 0, 0, 0))
                entry.external_attr = 0o644 << 16
                bundle.writestr(entry, page, zipfile.ZIP_DEFLATED)
        path = folder / f"{safe_component(assignment)}.zip"
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(path, buffer.getvalue())
        written.append(path)
    for stale in set(folder.glob("*.zip")) - set(written) if folder.is_dir() else ():
        stale.unlink()
    return written
