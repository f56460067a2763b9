"""Command line: `python -m autograder release | grade | gradescope | private-course` (see `--help` of each)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .course import Course, CourseError, find_course
from .model import Status, UsageError
from .limits import Limits
from .settings import GradeOptions, Settings

DEFAULTS = GradeOptions()
CONFIGURED = "grading.toml's [grade] {name}, else {value}"  # how --help states a default the course can set


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
                    "time and memory limits) and write grades.json, grades.csv (Canvas gradebook import), "
                    "feedback/<student>/<assignment>.html and the class report report.html into --out. Reruns "
                    "reuse earlier results. The course's grading.toml sets due dates, the late policy, similarity "
                    "settings, Canvas ids and the defaults of the options below; an option given here wins.")
    grade.add_argument("paths", nargs="+", metavar="PATH",
                       help="a notebook; a folder of student folders (<root>/<student>/<any>.ipynb); a .zip of "
                            "either; or a Canvas bulk download (<name>_<id>_<subid>_<file>)")
    grade.add_argument("--assignment", metavar="A", help="grade everything as assignment A (default: detected "
                                                         "from each notebook's graded cells)")
    grade.add_argument("--student", metavar="S", help="the student who owns every notebook given")
    grade.add_argument("--out", metavar="DIR", default="graded", help="output folder (default: graded/)")
    grade.add_argument("--workers", metavar="N", type=_positive,
                       help="submissions graded at once, each in its own work folder (default: "
                            + CONFIGURED.format(name="workers", value=DEFAULTS.workers) + ")")
    grade.add_argument("--db", metavar="URL", help="gradebook database URL passed to nbgrader (default: "
                                                   "sqlite:///DIR/gradebook.db)")
    grade.add_argument("--timeout", metavar="S", type=_positive,
                       help="seconds for a whole notebook (default: "
                            + CONFIGURED.format(name="timeout", value=DEFAULTS.timeout) + ")")
    grade.add_argument("--cell-timeout", metavar="S", type=_positive,
                       help="seconds for one cell (default: "
                            + CONFIGURED.format(name="cell_timeout", value=DEFAULTS.cell_timeout) + ")")
    grade.add_argument("--memory-mb", metavar="MB", type=_positive,
                       help="memory of a student's kernel (default: "
                            + CONFIGURED.format(name="memory_mb", value=DEFAULTS.memory_mb) + ")")
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
    grade.add_argument("--regrade", metavar="S", action="append",
                       help="grade student S's submissions again instead of reusing earlier results (repeat it for "
                            "more students; --force regrades everyone)")
    grade.add_argument("--force", action="store_true", help="grade every submission again, reusing no earlier result")
    grade.add_argument("--verbose", action="store_true",
                       help="also write the run's log to stderr (it always goes to grade.log in --out)")
    grade.add_argument("--max-file-mb", metavar="MB", type=_positive,
                       help="largest notebook accepted (default: "
                            + CONFIGURED.format(name="max_file_mb", value=DEFAULTS.max_file_mb) + ")")
    grade.add_argument("--csv-bom", action=argparse.BooleanOptionalAction,
                       help="start grades.csv with a UTF-8 byte order mark, which Excel on Windows needs to show "
                            "Korean names (default: " + CONFIGURED.format(name="csv_bom", value="no") + ")")

    private = commands.add_parser(
        "private-course", parents=[course], help="make a private course folder from this one, for grading for credit",
        description="Copy the course's sources, student versions, trusted checks, data and settings into a new "
                    "folder (kept where students cannot read it: the open book's solutions are public) and say "
                    "what to change. `release`, `grade` and `gradescope` then use it with --course DIR.")
    private.add_argument("target", metavar="DIR", type=Path, help="the new (or empty) folder")
    private.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="assignment ids (default: all)")

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
        if args.command == "private-course":
            from .private import create

            names = create(_course(args), args.target, args.assignments)
            print(f"Made the private course {args.target} with {', '.join(names)}; read {args.target / 'README.md'} "
                  f"for what to change, then run: python -m autograder release --course {args.target}")
            return 0
    except (UsageError, CourseError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 2


def _grade(args: argparse.Namespace) -> int:
    from .sandbox import tiers
    from .grade import LOG, LOG_FORMAT, grade

    tier = tiers.choose(unsafe=args.unsafe)  # the strongest that works here; refuses (exit 2) when none does
    warning = "WARNING: " if tier is not tiers.Tier.BWRAP else ""
    print(f"{warning}Sandbox tier '{tier}': {tiers.describe(tier)}.", file=sys.stderr)
    course = _course(args)
    configured = Settings.read(course).grade
    if args.verbose:
        import logging

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        LOG.addHandler(handler)

    def option(name: str):  # the flag, else grading.toml's [grade], else the built-in default
        given = getattr(args, name)
        return getattr(configured, name) if given is None else given

    limits = Limits(notebook_seconds=option("timeout"), cell_seconds=option("cell_timeout"),
                    memory_mb=option("memory_mb"), file_mb=option("max_file_mb"))
    outcome = grade([Path(path) for path in args.paths], Path(args.out), course=course,
                    assignment=args.assignment, student=args.student, workers=option("workers"), limits=limits,
                    db_url=args.db, tier=tier, fresh_kernels=args.fresh_kernels, overrides=args.overrides,
                    csv_bom=option("csv_bom"), regrade=True if args.force else frozenset(args.regrade or ()))
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
