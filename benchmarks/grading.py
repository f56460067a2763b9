"""Benchmark grading: our `grade` against bare `nbgrader autograde`, alone and in batches, wall and CPU.

    .venv/bin/python benchmarks/grading.py [--assignment rmse_metric] [--rounds 2] [--copies 3]

Submissions are student copies of one exercise: reference (every answer cell filled with the
reference solution), wrong (the first known-wrong answer of tests/exercises/misconceptions/<assignment>.toml)
and blank (the student version as released). Every copy differs by one byte of metadata, so that no
result can be reused from an identical notebook.

Latency: each submission is graded alone, end to end, by `python -m autograder grade` (fresh output
folder; sandbox and trusted check), by the same with `--unsafe` (no sandbox; trusted check) and by
`nbgrader autograde` in a course folder prepared once; the three take turns, so that load from other
processes hits all alike. The course's first `grade` run also builds the template gradebook and the
trusted check's reference values; it is timed apart ("first run in a course").

Batches: the same copies graded by bare `nbgrader autograde` (one command for all, one notebook after
the other, in a course of its own), and by `grade` with one worker (kernels forked from the worker's
template: TensorFlow imported once per worker, zygote.py), one worker with `--fresh-kernels`, one
worker `--unsafe` and two workers, taking turns; the best run of each is the least disturbed by other
load. An untimed run first computes the trusted check's reference values for the batch's seeds
(made once per seed, whoever grades afterwards), so that no command pays for them and the order of
the commands does not matter. CPU is the whole machine's busy time during the command (sandboxed kernels are not children
that can be waited for), so run it on an otherwise idle machine. Prints Markdown tables to paste
into a closing note, with the ratios that issue 19 sets goals for.
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
BARE, ONE, TWO = "bare `nbgrader autograde` (all in one command)", "`grade --workers 1`", "`grade --workers 2`"
FRESH = "`grade --workers 1 --fresh-kernels`"


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
            catalogue = tomllib.loads((ROOT / "tests" / "exercises" / "misconceptions" / f"{assignment}.toml").read_text())
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


def copy_course(course: Path, assignment: str) -> Path:
    """A copy of the course (config, the assignment's source, data/), released for bare nbgrader."""
    shutil.copytree(ROOT / "solutions" / assignment, course / "solutions" / assignment)
    shutil.copyfile(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(ROOT / "data", course / "data")
    timed([str(Path(sys.executable).with_name("nbgrader")), "generate_assignment", assignment, "--force"], course)
    return course


def snapshot_course(work: Path, assignment: str) -> tuple[Path, float]:
    """A copy of the course that both tools grade against.

    Bare nbgrader gets `generate_assignment` run once; ours gets one warm-up run that builds its
    template gradebook. Neither one-time step is timed.
    """
    course = copy_course(work / "course", assignment)
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
    parser.add_argument("--copies", type=int, default=3, help="copies of each kind in the batch")
    parser.add_argument("--batch-rounds", type=int, default=1, help="runs of each batch command")
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
        cpu_of = {"ours": [], "unsafe": [], "bare": []}  # machine-wide busy CPU seconds of each run
        for path in singles:
            name = path.parent.name
            ours.append(timed([sys.executable, "-m", "autograder", "grade", str(path), "--course", str(course),
                               "--student", name, "--out", str(work / "out-single" / name)], ROOT))
            cpu_of["ours"].append(CPU_SECONDS[-1])
            unsafe.append(timed([sys.executable, "-m", "autograder", "grade", str(path), "--course", str(course),
                                 "--student", name, "--out", str(work / "out-unsafe" / name), "--unsafe"], ROOT))
            cpu_of["unsafe"].append(CPU_SECONDS[-1])
            target = course / "submitted" / name / assignment / f"{assignment}.ipynb"
            target.parent.mkdir(parents=True)
            shutil.copyfile(path, target)
            bare.append(timed([str(Path(sys.executable).with_name("nbgrader")), "autograde", assignment,
                               "--student", name, "--force"], course))
            cpu_of["bare"].append(CPU_SECONDS[-1])
            print(f"{name}: ours {ours[-1]:.1f} s, --unsafe {unsafe[-1]:.1f} s, bare nbgrader {bare[-1]:.1f} s",
                  file=sys.stderr)
        count = len(KINDS) * args.copies
        bare_course = copy_course(work / "bare-course", assignment)
        for student in sorted(path.name for path in batch.iterdir()):
            target = bare_course / "submitted" / student / assignment / f"{assignment}.ipynb"
            target.parent.mkdir(parents=True)
            shutil.copyfile(next((batch / student).glob("*.ipynb")), target)
        ours_batch = [sys.executable, "-m", "autograder", "grade", str(batch), "--course", str(course)]
        commands = {
            BARE: ([str(Path(sys.executable).with_name("nbgrader")), "autograde", assignment, "--force"], bare_course),
            ONE: ([*ours_batch, "--workers", "1"], ROOT),
            FRESH: ([*ours_batch, "--workers", "1", "--fresh-kernels"], ROOT),
            "`grade --workers 1 --unsafe`": ([*ours_batch, "--workers", "1", "--unsafe"], ROOT),
            TWO: ([*ours_batch, "--workers", "2"], ROOT),
        }
        # the trusted check's reference values for the batch's seeds, made once whatever grades later: untimed
        timed([*ours_batch, "--workers", "2", "--out", str(work / "out-batch-warm-up")], ROOT)
        batch_seconds: dict[str, list[float]] = {name: [] for name in commands}
        batch_cpu: dict[str, list[float]] = {name: [] for name in commands}
        for round_ in range(args.batch_rounds):  # the commands take turns: load from others hits all alike
            for number, (name, (command, cwd)) in enumerate(commands.items()):
                if cwd == ROOT:
                    command = [*command, "--out", str(work / f"out-batch-{number}-{round_}")]
                seconds = timed(command, cwd)
                batch_seconds[name].append(seconds)
                batch_cpu[name].append(CPU_SECONDS[-1])
                print(f"batch of {count}, {name}: {seconds:.1f} s, {CPU_SECONDS[-1]:.1f} CPU s, load average "
                      f"{os.getloadavg()[0]:.1f}", file=sys.stderr)
    load = os.getloadavg()
    print(f"Grading benchmark: {assignment}, {os.cpu_count()} CPU cores, load average {load[0]:.1f} "
          f"(1 min) {load[2]:.1f} (15 min)\n")
    if ours:
        p50_ours, p50_bare = statistics.median(ours), statistics.median(bare)
        print("| per submission, alone, end to end (a new worker each) | runs | p50 s | p95 s | p50 CPU s |\n"
              "|---|---|---|---|---|")
        p50_unsafe = statistics.median(unsafe)
        print(f"| `python -m autograder grade` (sandbox + trusted check) | {len(ours)} | {p50_ours:.1f} | "
              f"{percentile(ours, 0.95):.1f} | {statistics.median(cpu_of['ours']):.1f} |")
        print(f"| `python -m autograder grade --unsafe` (trusted check only) | {len(unsafe)} | {p50_unsafe:.1f} | "
              f"{percentile(unsafe, 0.95):.1f} | {statistics.median(cpu_of['unsafe']):.1f} |")
        print(f"| bare `nbgrader autograde` | {len(bare)} | {p50_bare:.1f} | {percentile(bare, 0.95):.1f} | "
              f"{statistics.median(cpu_of['bare']):.1f} |")
        print(f"| ratio sandboxed / bare (p50) | | {p50_ours / p50_bare:.2f} | goal ≤ 1.5 | |")
        print(f"| ratio --unsafe / bare (p50) | | {p50_unsafe / p50_bare:.2f} | | |")
        print(f"| first run in a course (builds the template gradebook and the trusted reference) | 1 | {first:.1f} | "
              "| |\n")
    print(f"| batch of {count} submissions | runs | best wall s | wall s per submission | CPU s per submission "
          "(machine-wide, best run) | submissions / minute |\n|---|---|---|---|---|---|")
    best = {name: min(range(len(runs)), key=runs.__getitem__) for name, runs in batch_seconds.items()}
    wall = {name: batch_seconds[name][index] for name, index in best.items()}
    cpu = {name: batch_cpu[name][index] for name, index in best.items()}
    for name in batch_seconds:
        print(f"| {name} | {len(batch_seconds[name])} | {wall[name]:.1f} | {wall[name] / count:.2f} | "
              f"{cpu[name] / count:.2f} | {count / wall[name] * 60:.2f} |")
    print(f"\n| ratio (batch of {count}, best runs) | measured | goal (issue 19) |\n|---|---|---|")
    print(f"| CPU per submission, {ONE} / bare nbgrader | {cpu[ONE] / cpu[BARE]:.2f} | ≤ 0.5 |")
    print(f"| CPU per submission, {FRESH} / bare nbgrader | {cpu[FRESH] / cpu[BARE]:.2f} | |")
    print(f"| throughput, {TWO} / bare nbgrader | {wall[BARE] / wall[TWO]:.2f} | ≥ 2.5 |")
    print(f"| wall per submission, warm worker ({ONE}) / bare nbgrader | {wall[ONE] / wall[BARE]:.2f} | ≤ 0.75 |")
    print(f"| speed-up of 2 workers over 1 | {wall[ONE] / wall[TWO]:.2f} | |")


if __name__ == "__main__":
    main()
