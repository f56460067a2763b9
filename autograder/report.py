"""The class report: report.json (the figures as plain data) and report.html with its plots in report/.

For the instructor, not for students: per assignment, the score distribution, each task's pass rate and
the failure messages most often seen (what the class misunderstood); then late submissions, flags (the
trusted check's disagreements, integrity) and the pairs of answer code that look alike, side by side
(similarity.py). Only counted submissions (each student's chosen, graded one) enter the figures.

The page is static: plots are PNG files drawn by matplotlib, every text is HTML-escaped, and a
Content-Security-Policy forbids scripts (student code and names are in it).
"""

from __future__ import annotations

import io
import json
import statistics
from collections import Counter
from html import escape
from pathlib import Path

from .files import atomic_write
from .model import Row, Status
from .similarity import Pair

FOLDER = "report"  # the plots, beside report.html
TOP_MESSAGES = 8  # failure messages listed per assignment
CJK_FONTS = ("Noto Sans CJK KR", "Noto Sans CJK JP", "NanumGothic", "Noto Sans KR")
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1rem; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; vertical-align: top; }
td.n { text-align: right; white-space: nowrap; }
img { max-width: 100%; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: .8rem; margin-bottom: 1.5rem; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; font-size: .8rem; margin: 0; }
mark { background: #ffd86b; }
.none { color: #666; }
"""


def _counted(rows: list[Row], assignment: str) -> list[Row]:
    return [row for row in rows if row.assignment == assignment and row.chosen and row.status is Status.GRADED]


def data(rows: list[Row], pairs: list[Pair]) -> dict:
    """What the report shows, as plain data (report.json)."""
    assignments = []
    for name in sorted({row.assignment for row in rows if row.assignment}):
        counted = _counted(rows, name)
        scores = sorted(float(row.score or 0) for row in counted)
        tasks: dict[str, dict] = {}
        failures: Counter = Counter()
        for row in counted:
            for test in row.tests:
                task = tasks.setdefault(test.name, {"name": test.name, "title": test.title or test.name,
                                                    "passed": 0, "graded": 0})
                task["graded"] += 1
                task["passed"] += test.passed
                if not test.passed:
                    failures[test.name, test.title or test.name, test.message or "(no message)"] += 1
        for task in tasks.values():
            task["pass_rate"] = task["passed"] / task["graded"]
        statuses = Counter(row.status.value for row in rows if row.assignment == name)
        assignments.append({
            "name": name, "max_score": next((row.max_score for row in rows if row.assignment == name
                                             and row.max_score is not None), None),
            "students": len({row.student for row in counted}), "scores": scores,
            "mean": statistics.fmean(scores) if scores else None,
            "median": statistics.median(scores) if scores else None,
            "rejected": statuses.get("rejected", 0), "failed": statuses.get("failed", 0),
            "tasks": list(tasks.values()),
            "failures": [{"task": task, "title": title, "message": message, "count": count}
                         for (task, title, message), count in failures.most_common(TOP_MESSAGES)]})
    late = [{"student": row.student, "assignment": row.assignment, **row.late.to_json(row.earned),
             "submitted_at": row.to_json()["submitted_at"], "score": row.score}
            for row in rows if row.chosen and row.status is Status.GRADED and row.late and row.late.seconds > 0]
    flagged: dict[tuple[str, str], list[str]] = {}  # one entry per flag text: "no trusted check" is on every row
    for row in rows:
        for flag in row.flags:
            flagged.setdefault((row.assignment or "", flag), []).append(row.student or "?")
    flags = [{"assignment": assignment, "flag": flag, "students": students}
             for (assignment, flag), students in sorted(flagged.items())]
    return {"assignments": assignments, "late": late, "flags": flags, "similar": [pair.to_json() for pair in pairs]}


def _figures(report: dict, folder: Path) -> dict[str, str]:
    """The plots as PNG files in `folder`; name -> file name."""
    import logging
    import warnings

    import matplotlib
    from matplotlib import font_manager
    from matplotlib.figure import Figure

    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    installed = {font.name for font in font_manager.fontManager.ttflist}
    style = {"font.family": ["DejaVu Sans", *(font for font in CJK_FONTS if font in installed)]}
    folder.mkdir(parents=True, exist_ok=True)
    drawn: dict[str, str] = {}
    assignments = [entry for entry in report["assignments"] if entry["scores"]]

    def save(figure: Figure, name: str) -> None:
        figure.tight_layout()
        png = io.BytesIO()
        figure.savefig(png, format="png", dpi=100)
        atomic_write(folder / f"{name}.png", png.getvalue())
        drawn[name] = f"{name}.png"

    with warnings.catch_warnings(), matplotlib.rc_context(style):
        warnings.simplefilter("ignore")
        if assignments:
            figure = Figure(figsize=(4 * min(len(assignments), 3), 3 * -(-len(assignments) // 3)))
            for index, entry in enumerate(assignments):
                axes = figure.add_subplot(-(-len(assignments) // 3), min(len(assignments), 3), index + 1)
                top = entry["max_score"] or max(entry["scores"]) or 1
                axes.hist(entry["scores"], bins=10, range=(0, top),
                          color="#3b6ea8", edgecolor="white")
                axes.set(title=entry["name"], xlabel="score", ylabel="students", xlim=(0, top))
            save(figure, "scores")
            tasks = [(entry["name"], task) for entry in assignments for task in entry["tasks"]]
            figure = Figure(figsize=(8, 0.9 + 0.32 * len(tasks)))
            axes = figure.add_subplot()
            labels = [f"{name}: {task['name'].split('-', 1)[-1]}" for name, task in tasks]
            axes.barh(range(len(tasks)), [task["pass_rate"] * 100 for _, task in tasks], color="#4c9a5b")
            axes.set(yticks=range(len(tasks)), yticklabels=labels, xlim=(0, 100), xlabel="% of students who passed")
            axes.invert_yaxis()
            save(figure, "pass-rates")
        if report["late"]:
            late = Counter(entry["assignment"] for entry in report["late"])
            figure = Figure(figsize=(6, 0.9 + 0.4 * len(late)))
            axes = figure.add_subplot()
            names = sorted(late)
            axes.barh(range(len(names)), [late[name] for name in names], color="#c2703d")
            axes.set(yticks=range(len(names)), yticklabels=names, xlabel="late submissions")
            axes.invert_yaxis()
            save(figure, "late")
    for stale in folder.glob("*.png"):  # a plot of an earlier run that has nothing to show now (ours, not an input)
        if stale.name not in drawn.values():
            stale.unlink()
    return drawn


def _table(head: list[str], lines: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """An HTML table of already-escaped cells."""
    cells = "".join(f"<th>{cell}</th>" for cell in head)
    body = "".join("<tr>" + "".join(f'<td class="n">{cell}</td>' if index in numeric else f"<td>{cell}</td>"
                                    for index, cell in enumerate(line)) + "</tr>" for line in lines)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def render(report: dict, figures: dict[str, str], pairs: list[Pair]) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src \'self\' file:; '
             'style-src \'unsafe-inline\'">', f"<title>Class report</title><style>{STYLE}</style></head><body>",
             "<h1>Class report</h1>", "<h2>Assignments</h2>",
             _table(["Assignment", "Students", "Mean", "Median", "Max", "Rejected files", "Failed"],
                    [[escape(entry["name"]), str(entry["students"]), _number(entry["mean"]), _number(entry["median"]),
                      _number(entry["max_score"]), str(entry["rejected"]), str(entry["failed"])]
                     for entry in report["assignments"]], numeric={1, 2, 3, 4, 5, 6})]
    for name, title in (("scores", "Score distribution"), ("pass-rates", "Pass rate per task")):
        if name in figures:
            parts += [f"<h2>{title}</h2>", f'<img src="{FOLDER}/{figures[name]}" alt="{title}">']
    parts.append("<h2>What the class misunderstood</h2>")
    for entry in report["assignments"]:
        if entry["failures"]:
            parts += [f"<h3>{escape(entry['name'])}</h3>",
                      _table(["Task", "Failure message", "Students"],
                             [[escape(failure["title"]), escape(failure["message"]), str(failure["count"])]
                              for failure in entry["failures"]], numeric={2})]
    parts.append(f"<h2>Late submissions ({len(report['late'])})</h2>")
    if "late" in figures:
        parts.append(f'<img src="{FOLDER}/{figures["late"]}" alt="Late submissions per assignment">')
    parts.append(_table(["Student", "Assignment", "Submitted", "Late by (h)", "Penalty", "Score"],
                        [[escape(str(entry["student"])), escape(str(entry["assignment"])),
                          escape(str(entry["submitted_at"] or "unknown")), f"{entry['seconds_late'] / 3600:.1f}",
                          f"{entry['percent']:g}%", _number(entry["score"])] for entry in report["late"]],
                        numeric={3, 4, 5}) if report["late"] else '<p class="none">None.</p>')
    parts.append(f"<h2>Flags ({len(report['flags'])})</h2>")
    parts.append(_table(["Assignment", "Flag", "Students"],
                        [[escape(entry["assignment"]), escape(entry["flag"]), escape(", ".join(entry["students"]))]
                         for entry in report["flags"]]) if report["flags"] else '<p class="none">None.</p>')
    parts.append(f"<h2>Answer code that looks alike ({len(pairs)} pair(s))</h2>")
    if not pairs:
        parts.append('<p class="none">None above the threshold.</p>')
    for pair in sorted(pairs, key=lambda pair: -pair.share):
        parts += [f"<h3>{escape(pair.assignment)}: {escape(pair.first)} ({pair.shares[0]:.0%}) and {escape(pair.second)} "
                  f"({pair.shares[1]:.0%})</h3>", '<div class="pair">',
                  *(f"<pre>{code}</pre>" for code in pair.code), "</div>"]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write(rows: list[Row], pairs: list[Pair], out: Path) -> Path:
    """report.json, report.html and its plots in `out`; the path of report.html."""
    report = data(rows, pairs)
    atomic_write(out / "report.json", json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    figures = _figures(report, out / FOLDER)
    atomic_write(out / "report.html", render(report, figures, pairs))
    return out / "report.html"
