"""Benchmark the integrity checks and the class report against what an instructor would do instead.

    .venv/bin/python benchmarks/integrity.py [--assignment rmse_metric] [--students 50 200]

A class of N students for one exercise: the misconception catalogue's answers (and the reference), each
copied with its names renamed until there are N, so that many pairs are alike. Timed, side by side:

- ours: `similarity.pairs` (answer cells read from the notebooks, compared with each other and the reference
  solution) and `report.write` (report.json, report.html and its plots), what every `grade` run adds;
- copydetect's own `CopyDetector` over the same answer code, which an instructor would first extract into
  one .py file per student, and then run with its HTML report (the tool people use for this).

Prints a Markdown table with the ratio (copydetect / ours) to paste into a closing note.
"""

from __future__ import annotations

import argparse
import keyword
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder import report, similarity  # noqa: E402
from autograder.course import Course  # noqa: E402
from autograder.model import Row, Status  # noqa: E402
from tests.exercises import catalogue  # noqa: E402


def _class(assignment: str, students: int) -> tuple[list[Row], dict[str, bytes]]:
    """N graded rows and their notebooks' bytes."""
    made = [notebook for notebook, _ in catalogue.submissions(assignment).values()]
    rows, blobs = [], {}
    for index in range(students):
        notebook = nbformat.from_dict(made[index % len(made)])
        if index >= len(made):  # a copy with names of its own: each answer's names of 4+ letters get a suffix
            for cell in notebook.cells:
                if cell.metadata.get("nbgrader", {}).get("solution"):
                    cell.source = re.sub(r"\b[a-z_]{4,}\b", lambda name: name[0] if keyword.iskeyword(name[0])
                                         else f"{name[0]}_{index}", cell.source)
        key = f"s{index:04d}"
        blobs[key] = nbformat.writes(notebook).encode()
        rows.append(Row(f"student{index:04d}", assignment, f"{key}.ipynb", key, Status.GRADED, 1.0, 1.0, chosen=True))
    return rows, blobs


def ours(rows: list[Row], blobs: dict[str, bytes], spec, out: Path) -> tuple[float, float, int]:
    started = time.perf_counter()
    found = similarity.pairs(rows, blobs.__getitem__, {spec.name: spec}, similarity.Settings())
    compared = time.perf_counter()
    report.write(similarity.flag(rows, found), found, out)
    return compared - started, time.perf_counter() - compared, len(found)


def copydetect(rows: list[Row], blobs: dict[str, bytes], spec, folder: Path) -> tuple[float, int]:
    from copydetect import CopyDetector

    started = time.perf_counter()
    (folder / "code").mkdir()
    (folder / "given").mkdir()
    given, _ = similarity.given_and_reference(spec)
    (folder / "given" / "given.py").write_text(given, encoding="utf-8")
    for row in rows:  # what an instructor extracts by hand, one file per student
        (folder / "code" / f"{row.student}.py").write_text(similarity.answer_code(blobs[row.sha256], spec), "utf-8")
    detector = CopyDetector(test_dirs=[str(folder / "code")], ref_dirs=[str(folder / "code")],
                            boilerplate_dirs=[str(folder / "given")], extensions=["py"], display_t=0.8,
                            autoopen=False, silent=True, out_file=str(folder / "copydetect.html"))
    detector.run()
    detector.generate_html_report()
    pairs = len(detector.get_copied_code_list())
    return time.perf_counter() - started, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="rmse_metric")
    parser.add_argument("--students", type=int, nargs="+", default=[50, 200])
    args = parser.parse_args()
    spec = Course(ROOT).spec(args.assignment)
    with tempfile.TemporaryDirectory() as warm:  # imports (copydetect, pygments, matplotlib) are not timed
        ours(*_class(args.assignment, 3), spec, Path(warm))
    print(f"| students ({args.assignment}) | ours: similarity | ours: report | ours: pairs | copydetect (extract, "
          "run, report) | copydetect: pairs ≥ 0.8 | copydetect / ours |")
    print("|---|---|---|---|---|---|---|")
    for students in args.students:
        rows, blobs = _class(args.assignment, students)
        with tempfile.TemporaryDirectory() as ours_dir, tempfile.TemporaryDirectory() as theirs_dir:
            compare, write, found = ours(rows, blobs, spec, Path(ours_dir))
            theirs, listed = copydetect(rows, blobs, spec, Path(theirs_dir))
        print(f"| {students} | {compare:.2f} s | {write:.2f} s | {found} | {theirs:.2f} s | {listed} | "
              f"{theirs / (compare + write):.1f}× |")


if __name__ == "__main__":
    main()
