"""Command line: `python -m autograder release | grade | gradescope` (see `--help` of each)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .course import Course, CourseError, find_course
from .model import Status, UsageError
from .limits import Limits

DEFAULTS = Limits()


def _course(args: argparse.Namespace) -> Course:
    return Course(Path(args.course).resolve()) if args.course else find_course()


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Grade Keras Deep Dive exercises with nbgrader: release student versions, grade a folder of "
                    "Colab downloads into grades and feedback, or build a Gradescope autograder.")
    course = argparse.ArgumentParser(add_help=False)
    course.add_argument("--course", metavar="DIR", default=argparse.SUPPRESS,
                        help="course folder with nbgrader_config.py (default: the nearest one above here)")
    main.add_argument("--course", metavar="DIR", help=argparse.SUPPRESS)
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    release = commands.add_parser(
        "release", parents=[course], help="regenerate exercises/ from solutions/ and validate both",
        description="Regenerate the student versions in exercises/ from the sources in solutions/ and validate "
                    "them: every reference solution scores full marks, every student version scores zero.")
    release.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="assignment ids (default: all)")
    release.add_argument("--check", action="store_true",
                         help="write nothing; fail if a source's metadata or a student version is out of date")
    release.add_argument("--no-validate", action="store_true",
                         help="skip the validation with nbgrader (which executes every notebook)")

    grade = commands.add_parser(
        "grade", parents=[course], help="grade notebooks, folders, zips or LMS downloads",
        description="Archive every input, grade each student's latest notebook with nbgrader (in parallel, under "
                    "time and memory limits) and write grades.json, grades.csv (Canvas gradebook import) and "
                    "feedback/<student>/<assignment>.html into --out. Reruns reuse earlier results.")
    grade.add_argument("paths", nargs="+", metavar="PATH",
                       help="a notebook; a folder of student folders (<root>/<student>/<any>.ipynb); a .zip of "
                            "either; or a Canvas bulk download (<name>_<id>_<subid>_<file>)")
    grade.add_argument("--assignment", metavar="A", help="grade everything as assignment A (default: detected "
                                                         "from each notebook's graded cells)")
    grade.add_argument("--student", metavar="S", help="the student who owns every notebook given")
    grade.add_argument("--out", metavar="DIR", default="graded", help="output folder (default: graded/)")
    grade.add_argument("--workers", metavar="N", type=_positive, default=1,
                       help="submissions graded at once, each in its own work folder (default: 1)")
    grade.add_argument("--db", metavar="URL", help="gradebook database URL passed to nbgrader (default: "
                                                   "sqlite:///DIR/gradebook.db)")
    grade.add_argument("--timeout", metavar="S", type=_positive, default=DEFAULTS.notebook_seconds,
                       help=f"seconds for a whole notebook (default: {DEFAULTS.notebook_seconds})")
    grade.add_argument("--cell-timeout", metavar="S", type=_positive, default=DEFAULTS.cell_seconds,
                       help=f"seconds for one cell (default: {DEFAULTS.cell_seconds})")
    grade.add_argument("--memory-mb", metavar="MB", type=_positive, default=DEFAULTS.memory_mb,
                       help=f"memory of a student's kernel (default: {DEFAULTS.memory_mb})")
    grade.add_argument("--unsafe", action="store_true",
                       help="run student code WITHOUT a sandbox, with your rights (only for notebooks you "
                            "trust; the trusted check still caps scores). Without it, grading picks the strongest "
                            "sandbox tier that works here (bubblewrap, else a uid of its own as root) or refuses")
    grade.add_argument("--fresh-kernels", action="store_true",
                       help="start every student's kernel afresh, importing TensorFlow each time, instead of "
                            "forking it from a template that each worker imports once (slower; same grades)")
    grade.add_argument("--overrides", metavar="CSV", type=Path,
                       help="manual changes to apply: lines of student,assignment,task,points,by,comment, where task "
                            "is a task's name or 'total' (default: overrides.csv in --out, when it exists; the last "
                            "line of a task wins; reruns apply it again)")
    grade.add_argument("--max-file-mb", metavar="MB", type=_positive, default=DEFAULTS.file_mb,
                       help=f"largest notebook accepted (default: {DEFAULTS.file_mb})")

    gradescope = commands.add_parser(
        "gradescope", parents=[course], help="build a Gradescope autograder bundle for one assignment",
        description="Write a Gradescope autograder .zip (setup.sh, run_autograder and what they need) that "
                    "grades one submission with this package and writes results.json.")
    gradescope.add_argument("assignment", metavar="A", help="assignment id")
    gradescope.add_argument("--out", metavar="ZIP", default="autograder.zip", help="bundle path "
                                                                                  "(default: autograder.zip)")
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "grade":
            return _grade(args)
        if args.command == "gradescope":
            from .gradescope import build

            path = build(_course(args), args.assignment, Path(args.out))
            print(f"Wrote {path}: upload it as the assignment's autograder in Gradescope.")
            return 0
        if args.command == "release":
            return _release(args)
    except (UsageError, CourseError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 2


def _grade(args: argparse.Namespace) -> int:
    from .sandbox import tiers
    from .grade import grade

    tier = tiers.choose(unsafe=args.unsafe)  # the strongest that works here; refuses (exit 2) when none does
    warning = "WARNING: " if tier is not tiers.Tier.BWRAP else ""
    print(f"{warning}Sandbox tier '{tier}': {tiers.describe(tier)}.", file=sys.stderr)
    limits = Limits(notebook_seconds=args.timeout, cell_seconds=args.cell_timeout, memory_mb=args.memory_mb,
                    file_mb=args.max_file_mb)
    outcome = grade([Path(path) for path in args.paths], Path(args.out), course=_course(args),
                    assignment=args.assignment, student=args.student, workers=args.workers, limits=limits,
                    db_url=args.db, tier=tier, fresh_kernels=args.fresh_kernels, overrides=args.overrides)
    print(outcome.summary())
    return 1 if any(row.status is Status.FAILED for row in outcome.rows) else 0


def _release(args: argparse.Namespace) -> int:
    from .release import ReleaseError, release

    try:
        changed = release(_course(args), args.assignments, check=args.check, run_validation=not args.no_validate)
    except ReleaseError as error:
        print(f"release failed:\n{error}", file=sys.stderr)
        return 1
    print("up to date" if not changed else f"{len(changed)} file(s) {'out of date' if args.check else 'written'}")
    return 0
