"""Where one submission's grading time goes: a breakdown of `grade` with forked and with fresh kernels.

    .venv/bin/python benchmarks/breakdown.py [--assignment rmse_metric] [--kind reference]

One submission (reference, wrong or blank answers; see grading.py) is graded alone by
`python -m autograder grade --workers 1`, once with kernels forked from the worker's template and
once with `--fresh-kernels`, in a course whose template gradebook and trusted reference values a
warm-up run has already made. The phases come from three clocks that share the wall time: the
command's start and end, the worker's log (when it got the job, when nbgrader began to execute the
notebook, when it wrote the result) and the executed notebook's cell timings (nbclient records when
each cell started and finished). Cells are told apart by their metadata: the first code cell (the
imports), answer cells (the student's code), test cells, the trusted check's probe cells, and the
other cells of the exercise. CPU is the machine's busy time during each command (idle machine).
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).parent))
from grading import CPU_SECONDS, ROOT, snapshot_course, submission, timed  # noqa: E402

LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO (.*)$")
PHASES = ("before the job (intake, archive, detection, job folder, worker start)", "kernel template start",
          "nbgrader before execution", "kernel start", "first code cell (imports)", "other cells of the exercise",
          "the student's answer cells", "test cells", "trusted probe cells", "nbgrader after execution",
          "after the job (results, gradebook, grades, feedback)")


def log_times(log: Path) -> list[tuple[float, str]]:
    """(epoch seconds, message) of every INFO line of a worker log (its clock: local time)."""
    times = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        match = LOG_TIME.match(line)
        if match:
            stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
            times.append((stamp.timestamp(), match.group(2)))
    return times


def cell_kind(cell: nbformat.NotebookNode, first: bool) -> str:
    grading = cell.metadata.get("nbgrader", {})
    if "kdd_trusted_check" in cell.metadata:
        return "trusted probe cells"
    if first:
        return "first code cell (imports)"
    if grading.get("solution"):
        return "the student's answer cells"
    if grading.get("grade"):
        return "test cells"
    return "other cells of the exercise"


def utc(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def breakdown(path: Path, course: Path, out: Path, options: list[str]) -> tuple[dict[str, float], float, float]:
    """Phase -> seconds for grading `path` into `out`, the command's wall time and the machine's CPU time."""
    started = time.time()
    wall = timed([sys.executable, "-m", "autograder", "grade", str(path), "--course", str(course), "--student",
                  "s", "--out", str(out), "--workers", "1", *options], ROOT)
    ended = started + wall
    events = log_times(out / ".work" / "logs" / "worker-1.log")
    job = next(when for when, message in events if message.startswith("job "))
    ready = next((when for when, message in events if message.startswith("kernel template ready")), job)
    converting = [when for when, message in events if message.startswith("Converting notebook")]
    written = [when for when, message in events if message.startswith("Setting destination file permissions")]
    executed = nbformat.read(next((out / "results").glob("*.ipynb")), as_version=4)
    cells = [cell for cell in executed.cells if cell.cell_type == "code" and "execution" in cell.metadata]
    phases = dict.fromkeys(PHASES, 0.0)
    for index, cell in enumerate(cells):
        timing = cell.metadata.execution
        phases[cell_kind(cell, index == 0)] += utc(timing["shell.execute_reply"]) - utc(timing["iopub.execute_input"])
    first_cell = utc(cells[0].metadata.execution["iopub.execute_input"])
    last_cell = utc(cells[-1].metadata.execution["shell.execute_reply"])
    phases[PHASES[0]] = job - started
    phases["kernel template start"] = ready - job
    phases["nbgrader before execution"] = converting[-1] - ready
    phases["kernel start"] = first_cell - converting[-1]
    phases["nbgrader after execution"] = written[-1] - last_cell
    phases[PHASES[-1]] = ended - written[-1]
    return phases, wall, CPU_SECONDS[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="rmse_metric")
    parser.add_argument("--kind", default="reference", choices=("reference", "wrong", "blank"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kdd-breakdown-") as folder:
        work = Path(folder)
        course, _ = snapshot_course(work, args.assignment)
        results = {}
        for copy, (mode, options) in enumerate((("forked kernels", []), ("fresh kernels", ["--fresh-kernels"]))):
            path = work / mode / f"{args.assignment}.ipynb"
            path.parent.mkdir(parents=True)
            nbformat.write(submission(args.assignment, args.kind, 200 + copy), path)  # not graded before
            results[mode] = breakdown(path, course, work / f"out-{mode}", options)
    print(f"One {args.kind} submission of {args.assignment}, graded alone by `grade --workers 1` (wall seconds)\n")
    print("| phase | " + " | ".join(results) + " |\n|---|" + "---|" * len(results))
    for phase in PHASES:
        print(f"| {phase} | " + " | ".join(f"{phases[phase]:.2f}" for phases, _, _ in results.values()) + " |")
    print("| **whole command** | " + " | ".join(f"**{wall:.2f}**" for _, wall, _ in results.values()) + " |")
    print("| CPU, machine-wide | " + " | ".join(f"{cpu:.2f}" for _, _, cpu in results.values()) + " |")


if __name__ == "__main__":
    main()
