"""Benchmark grading: our `grade` against bare `nbgrader autograde`, and batch throughput with 1 and 2 workers.

    .venv/bin/python benchmarks/grading.py [--assignment rmse_metric] [--rounds 2] [--copies 2]

Submissions are student copies of one exercise: reference (every answer cell filled with the
reference solution), wrong (the first known-wrong answer of tests/misconceptions/<assignment>.toml)
and blank (the student version as released). Every copy differs by one byte of metadata, so that no
result can be reused from an identical notebook.

Latency: each submission is graded alone, end to end, by `python -m autograder grade` (fresh output
folder; sandbox and trusted check), by the same with `--unsafe` (no sandbox; trusted check) and by
`nbgrader autograde` in a course folder prepared once; the three take turns, so that load from other
processes hits all alike. The course's first `grade` run also builds the template gradebook and the
trusted check's reference values; it is timed apart ("first run in a course"). Throughput: `grade --workers 1` and `--workers 2`
on the same batch of copies, taking turns; the best run of each is the least disturbed by other load.
Prints Markdown tables to paste into a closing note.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "KDD_OFFLINE": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
KINDS = ("reference", "wrong", "blank")


def answer_cells(notebook) -> dict[str, nbformat.NotebookNode]:
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get("solution")}


def submission(assignment: str, kind: str, copy: int) -> nbformat.NotebookNode:
    """A student's copy of the exercise: reference, wrong or blank answers."""
    student = nbformat.read(ROOT / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)
    if kind != "blank":
        source = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
        solutions = answer_cells(source)
        for grade_id, cell in answer_cells(student).items():
            lines = solutions[grade_id].source.splitlines()
            cell.source = "\n".join(line for line in lines if "### BEGIN SOLUTION" not in line
                                    and "### END SOLUTION" not in line)
        if kind == "wrong":
            catalogue = tomllib.loads((ROOT / "tests" / "misconceptions" / f"{assignment}.toml").read_text())
            for task, code in catalogue["wrong"][0]["answers"].items():
                answer_cells(student)[f"{assignment}-{task}-answer"].source = code.strip()
    student.metadata["benchmark_copy"] = copy
    return student


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


CPU_SECONDS: list[float] = []  # busy CPU time of the whole machine during each timed command, in order


def busy_cpu_seconds() -> float:
    """CPU time the machine has spent busy since boot (all cores; /proc/stat). Sandboxed kernels are
    killed rather than waited for, so the CPU time of a command's own process tree misses them."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def timed(command: list[str], cwd: Path) -> float:
    """Wall seconds of a command; the machine's busy CPU seconds meanwhile go to CPU_SECONDS."""
    before = busy_cpu_seconds()
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    CPU_SECONDS.append(busy_cpu_seconds() - before)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed


def snapshot_course(work: Path, assignment: str) -> tuple[Path, float]:
    """A copy of the course (config, the assignment's source, data/) that both tools grade against.

    Bare nbgrader gets `generate_assignment` run once; ours gets one warm-up run that builds its
    template gradebook. Neither one-time step is timed.
    """
    course = work / "course"
    shutil.copytree(ROOT / "solutions" / assignment, course / "solutions" / assignment)
    shutil.copyfile(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(ROOT / "data", course / "data")
    timed([str(Path(sys.executable).with_name("nbgrader")), "generate_assignment", assignment, "--force"], course)
    warm = work / "warm-up" / f"{assignment}.ipynb"
    warm.parent.mkdir(parents=True)
    nbformat.write(submission(assignment, "blank", -1), warm)
    first = timed([sys.executable, "-m", "autograder", "grade", str(warm), "--course", str(course), "--student",
                   "warm", "--out", str(work / "out-warm-up")], ROOT)
    print(f"first run in a course (template gradebook, trusted reference, one submission): {first:.1f} s",
          file=sys.stderr)
    return course, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="rmse_metric")
    parser.add_argument("--rounds", type=int, default=2, help="latency runs per kind and tool (0: throughput only)")
    parser.add_argument("--copies", type=int, default=2, help="copies of each kind in the throughput batch")
    parser.add_argument("--batch-rounds", type=int, default=2, help="throughput runs per number of workers")
    args = parser.parse_args()
    assignment = args.assignment
    with tempfile.TemporaryDirectory(prefix="kdd-bench-") as folder:
        work = Path(folder)
        singles, batch = [], work / "batch"  # every submission is written before anything is timed
        for round_ in range(args.rounds):
            for kind in KINDS:
                path = work / "single" / f"{kind}{round_}" / f"Copy of {assignment}.ipynb"
                path.parent.mkdir(parents=True)
                nbformat.write(submission(assignment, kind, round_), path)
                singles.append(path)
        for kind in KINDS:
            for copy in range(args.copies):
                path = batch / f"{kind}-{copy}" / f"{assignment} ({copy + 1}).ipynb"
                path.parent.mkdir(parents=True)
                nbformat.write(submission(assignment, kind, 100 + copy), path)
        course, first = snapshot_course(work, assignment)
        ours, unsafe, bare = [], [], []
        for path in singles:
            name = path.parent.name
            ours.append(timed([sys.executable, "-m", "autograder", "grade", str(path), "--course", str(course),
                               "--student", name, "--out", str(work / "out-single" / name)], ROOT))
            unsafe.append(timed([sys.executable, "-m", "autograder", "grade", str(path), "--course", str(course),
                                 "--student", name, "--out", str(work / "out-unsafe" / name), "--unsafe"], ROOT))
            target = course / "submitted" / name / assignment / f"{assignment}.ipynb"
            target.parent.mkdir(parents=True)
            shutil.copyfile(path, target)
            bare.append(timed([str(Path(sys.executable).with_name("nbgrader")), "autograde", assignment,
                               "--student", name, "--force"], course))
            print(f"{name}: ours {ours[-1]:.1f} s, --unsafe {unsafe[-1]:.1f} s, bare nbgrader {bare[-1]:.1f} s",
                  file=sys.stderr)
        count = len(KINDS) * args.copies
        batch_seconds: dict[int, list[float]] = {1: [], 2: []}
        batch_cores: dict[int, list[float]] = {1: [], 2: []}
        for round_ in range(args.batch_rounds):  # 1 and 2 workers take turns: load from others hits both
            for workers in (1, 2):
                seconds = timed([sys.executable, "-m", "autograder", "grade", str(batch), "--course", str(course),
                                 "--workers", str(workers), "--out", str(work / f"out-batch-{workers}-{round_}")],
                                ROOT)
                batch_seconds[workers].append(seconds)
                batch_cores[workers].append(CPU_SECONDS[-1] / seconds)
                print(f"batch of {count} with {workers} worker(s): {seconds:.1f} s, {batch_cores[workers][-1]:.2f} "
                      f"cores busy on average, load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    load = os.getloadavg()
    print(f"Grading benchmark: {assignment}, {os.cpu_count()} CPU cores, load average {load[0]:.1f} "
          f"(1 min) {load[2]:.1f} (15 min)\n")
    if ours:
        p50_ours, p50_bare = statistics.median(ours), statistics.median(bare)
        print("| per submission, alone, end to end | runs | p50 s | p95 s |\n|---|---|---|---|")
        p50_unsafe = statistics.median(unsafe)
        print(f"| `python -m autograder grade` (sandbox + trusted check) | {len(ours)} | {p50_ours:.1f} | "
              f"{percentile(ours, 0.95):.1f} |")
        print(f"| `python -m autograder grade --unsafe` (trusted check only) | {len(unsafe)} | {p50_unsafe:.1f} | "
              f"{percentile(unsafe, 0.95):.1f} |")
        print(f"| bare `nbgrader autograde` | {len(bare)} | {p50_bare:.1f} | {percentile(bare, 0.95):.1f} |")
        print(f"| ratio sandboxed / bare (p50) | | {p50_ours / p50_bare:.2f} | goal ≤ 1.5 |")
        print(f"| ratio --unsafe / bare (p50) | | {p50_unsafe / p50_bare:.2f} | |")
        print(f"| first run in a course (builds the template gradebook and the trusted reference) | 1 | {first:.1f} | |\n")
    print(f"| batch of {count} submissions | runs | best s | median s | submissions / minute (best) | "
          "CPU cores busy, machine-wide (mean) |\n|---|---|---|---|---|---|")
    for workers, runs in batch_seconds.items():
        print(f"| `grade --workers {workers}` | {len(runs)} | {min(runs):.1f} | {statistics.median(runs):.1f} | "
              f"{count / min(runs) * 60:.2f} | {statistics.mean(batch_cores[workers]):.2f} |")
    speedup = min(batch_seconds[1]) / min(batch_seconds[2])
    print(f"| speed-up of 2 workers over 1 (best runs) | | | | {speedup:.2f} (goal ≥ 1.7) | |")

if __name__ == "__main__":
    main()
