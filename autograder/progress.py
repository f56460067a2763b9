"""A progress bar while grading and a summary table at the end (plain text, no dependencies).

Names and reasons in these lines come from submissions (student folders, zip members, file names), so
every control or other invisible character in them is written as an escape (`printable`): an escape
sequence in a file name cannot move the cursor, recolour or hide the lines that follow it.
"""

from __future__ import annotations

import sys
import time
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
    """One line redrawn in place on a terminal; one line per finished submission elsewhere (CI logs)."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 28) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.done = 0
        self.counts: Counter[Status] = Counter()
        self.started = time.monotonic()
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        if total:
            self._draw()

    def advance(self, row: Row) -> None:
        self.done += 1
        self.counts[row.status] += 1
        if self.live:
            self._draw()
        else:
            score = f" {row.score:g}/{row.max_score:g}" if row.status is Status.GRADED else ""
            self.stream.write(printable(f"[{self.done}/{self.total}] {row.student} {row.assignment}: "
                                        f"{row.status.value}{score}") + "\n")
            self.stream.flush()

    def _draw(self) -> None:
        if not self.live:
            self.stream.write(f"grading {self.total} submission(s)\n")
            self.stream.flush()
            return
        filled = int(self.width * self.done / self.total) if self.total else self.width
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        counts = " ".join(f"{status.value} {self.counts[status]}" for status in Status)
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} "
                          f"{counts} eta {eta:4.0f}s ")
        self.stream.flush()

    def finish(self) -> None:
        if self.live and self.total:
            self.stream.write("\n")
            self.stream.flush()


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
