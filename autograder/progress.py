"""A progress display while grading (rich, on a terminal) and a summary table at the end.

Names and reasons in these lines come from submissions (student folders, zip members, file names), so
every control or other invisible character in them is written as an escape (`printable`): an escape
sequence in a file name cannot move the cursor, recolour or hide the lines that follow it.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import TextIO

from .model import Row, Status



def printable(text: object) -> str:
    """`text` with each character `repr` would escape (controls, format characters, line breaks) escaped."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class Progress:
    """A live display on a terminal (rich): the reference runs the trusted check needs first, then the
    submissions, with counts and the time left; elsewhere (CI logs, Gradescope) one line per finished job.
    The live display shows counts only: no name from a submission reaches the terminal's control codes."""

    def __init__(self, total: int, stream: TextIO | None = None, references: int = 0) -> None:
        self.total, self.references = total, references
        self.stream = stream if stream is not None else sys.stderr
        self.done = self.referenced = 0
        self.counts: Counter[Status] = Counter()
        self._bars = None
        if getattr(self.stream, "isatty", lambda: False)() and (total or references):
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as Bars

            self._bars = Bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TextColumn("eta"),
                              TimeRemainingColumn(), console=Console(file=self.stream), transient=False)
            self._reference_bar = (self._bars.add_task("reference solutions", total=references, counts="")
                                   if references else None)
            self._submission_bar = self._bars.add_task("submissions", total=total, counts=self._counts())
            self._bars.start()
        elif total or references:
            first = f", after {references} reference run(s) for the trusted check" if references else ""
            self.stream.write(f"grading {total} submission(s){first}\n")
            self.stream.flush()

    def _counts(self) -> str:
        return " ".join(f"{status.value} {self.counts[status]}" for status in Status)

    def reference(self, assignment: str, ok: bool) -> None:
        """A reference run finished (its values serve the trusted check)."""
        self.referenced += 1
        if self._bars is not None:
            self._bars.advance(self._reference_bar)
            return
        state = "done" if ok else "FAILED (see grades.json)"
        line = f"reference run {self.referenced}/{self.references} ({assignment}): {state}"
        self.stream.write(printable(line) + "\n")
        self.stream.flush()

    def advance(self, row: Row) -> None:
        self.done += 1
        self.counts[row.status] += 1
        if self._bars is not None:
            self._bars.update(self._submission_bar, advance=1, counts=self._counts())
            return
        score = f" {row.score:g}/{row.max_score:g}" if row.status is Status.GRADED else ""
        self.stream.write(printable(f"[{self.done}/{self.total}] {row.student} {row.assignment}: "
                                    f"{row.status.value}{score}") + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self._bars is not None:
            self._bars.stop()


def summary(rows: list[Row], superseded: int = 0) -> str:
    """A table per assignment (graded / rejected / failed, mean score) and the reason for each problem."""
    by_assignment: dict[str, list[Row]] = {}
    for row in rows:
        by_assignment.setdefault(row.assignment or "(unknown)", []).append(row)
    header = f"{'assignment':<16} {'graded':>6} {'rejected':>8} {'failed':>6} {'mean score':>12}"
    lines = [header, "-" * len(header)]
    for name in sorted(by_assignment):
        group = by_assignment[name]
        counts = Counter(row.status for row in group)
        scores = [row.score for row in group if row.status is Status.GRADED]
        maximum = next((row.max_score for row in group if row.max_score is not None), None)
        mean = f"{sum(scores) / len(scores):.2f}/{maximum:g}" if scores and maximum is not None else "-"
        lines.append(f"{name:<16} {counts[Status.GRADED]:>6} {counts[Status.REJECTED]:>8} {counts[Status.FAILED]:>6} "
                     f"{mean:>12}")
    problems = [row for row in rows if row.status is not Status.GRADED or row.error]
    if superseded:
        lines.append(f"{superseded} older submission(s) superseded by a later one (kept in archive/).")
    flagged = [row for row in rows if row.flags]
    if problems or flagged:
        lines.append("")
        lines.append("Needs attention:")
        for row in problems:
            lines.append(f"  {row.status.value:<8} {row.student or '?'} / {row.assignment or '?'}: {row.error}")
        for row in flagged:  # nbgrader and the trusted check disagree: tampering, or code fitted to the examples
            more = f" (+{len(row.flags) - 1} more in grades.json)" if len(row.flags) > 1 else ""
            lines.append(f"  flagged  {row.student or '?'} / {row.assignment or '?'}: {row.flags[0]}{more}")
    return "\n".join(printable(line) for line in lines)
