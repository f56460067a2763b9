"""Gradescope: build an autograder bundle, and run it inside Gradescope's container.

`build` writes a zip with `setup.sh` (installs Python packages at the versions of requirements.txt),
`run_autograder` (grades one submission), this package, the assignment's source folder, the course
config, data/ and the links to each task's section of the book (when the course names its address).
Gradescope unpacks it into /autograder/source and runs run_autograder once per
submission, in a fresh container, with the student's files in /autograder/submission; it reads
/autograder/results/results.json. `python -m autograder.gradescope --root DIR --assignment A` is that
run; AUTOGRADER_ROOT (default /autograder) and AUTOGRADER_PYTHON change the paths for a local test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zipfile
from pathlib import Path

from . import trusted
from .course import SETTINGS_NAME, Course, CourseError
from .files import atomic_write
from .model import Row, Status, UsageError

PACKAGE = Path(__file__).resolve().parent
# what grading imports
NEEDED = ("tensorflow", "keras", "nbgrader", "ipykernel", "matplotlib", "pyseccomp", "copydetect")
TASK_LINKS = "task_links.json"  # in the bundle's course folder: grade id -> the task's section in the book
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # zip entry times, so the same inputs give the same bundle

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu).
# bubblewrap is the strongest sandbox; where the container cannot create namespaces, grading falls back
# to a uid of its own per kernel (setpriv, from util-linux).
set -euo pipefail
apt-get install -y -q python3 python3-pip python3-venv bubblewrap util-linux
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q --disable-pip-version-check -r /autograder/source/requirements.txt
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this once per submission; it writes $root/results/results.json.
# AUTOGRADER_ROOT and AUTOGRADER_PYTHON override the paths (for a local test of the bundle).
set -uo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
python="${{AUTOGRADER_PYTHON:-$root/venv/bin/python}}"
cd "$root/source"
exec "$python" -m autograder.gradescope --root "$root" --assignment {assignment}
"""


def _requirements(course: Course) -> str:
    path = course.root / "requirements.txt"
    if not path.exists():
        path = PACKAGE.parent / "requirements.txt"
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name = line.split("#")[0].strip().split("==")[0].strip().lower()
        if name in NEEDED:
            pins[name] = line.split("#")[0].strip()
    missing = [name for name in NEEDED if name not in pins]
    if missing:
        raise CourseError(f"{path} pins no version of {', '.join(missing)}: add them (name==version).")
    return "\n".join(pins[name] for name in NEEDED) + "\n"


def package_files() -> list[Path]:
    """Every file of this package a grading run reads: its modules, subpackages (checks/) and README."""
    return sorted(path for path in PACKAGE.rglob("*") if path.is_file() and "__pycache__" not in path.parts
                  and (path.suffix == ".py" or path.name == "README.md"))


def build(course: Course, assignment: str, out: Path) -> Path:
    """Write the Gradescope bundle for one assignment to `out` (a .zip)."""
    spec = course.spec(assignment)
    files: dict[str, tuple[bytes, int]] = {
        "setup.sh": (SETUP_SH.encode(), 0o755),
        "run_autograder": (RUN_AUTOGRADER.format(assignment=assignment).encode(), 0o755),
        "requirements.txt": (_requirements(course).encode(), 0o644),
    }
    for path in package_files():
        files[f"autograder/{path.relative_to(PACKAGE).as_posix()}"] = (path.read_bytes(), 0o644)
    if course.config_file is not None:
        files["course/nbgrader_config.py"] = (course.config_file.read_bytes(), 0o644)
    if course.checks_dir != trusted.CHECKS and (check := course.checks_dir / f"{assignment}.py").is_file():
        files[f"course/checks/{assignment}.py"] = (check.read_bytes(), 0o644)  # a private course's own check
    if (course.root / SETTINGS_NAME).is_file():  # the late policy and limits (Gradescope's metadata gives the dates)
        files[f"course/{SETTINGS_NAME}"] = ((course.root / SETTINGS_NAME).read_bytes(), 0o644)
    if links := course.task_links(spec):  # computed here: the container has neither the book's config nor docutils
        files[f"course/{TASK_LINKS}"] = (json.dumps(links, indent=1, sort_keys=True).encode(), 0o644)
    source_name = course.source_dir.name
    for folder, prefix in ((spec.folder, f"course/{source_name}/{assignment}"), (course.root / "data", "course/data")):
        if folder.is_dir():
            for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts
                               and "__pycache__" not in p.parts):
                files[f"{prefix}/{path.relative_to(folder).as_posix()}"] = (path.read_bytes(), 0o644)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name in sorted(files):
            data, mode = files[name]
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, data)
    tmp.replace(out)
    return out


def results_json(rows: list[Row], seconds: float, links: dict[str, str] | None = None) -> dict:
    """Gradescope's results.json for the rows of one submission; `links`: grade id -> its task's section."""
    chosen = [row for row in rows if row.chosen]
    rejected = [row for row in rows if row.status is Status.REJECTED]
    notes = [row.error or "" for row in rejected]
    result: dict = {"score": 0.0, "execution_time": int(round(seconds)), "visibility": "visible",
                    "stdout_visibility": "hidden", "tests": []}
    if chosen and chosen[0].status is Status.GRADED:
        row = chosen[0]
        result["score"] = row.score
        result["tests"] = [{"name": test.title or test.name, "number": str(index), "score": test.score,
                            "max_score": test.max_score, "status": "passed" if test.passed else "failed",
                            "output": _output(test.message, (links or {}).get(test.name)), "visibility": "visible"}
                           for index, test in enumerate(row.tests, start=1)]
        if row.error:
            notes.insert(0, row.error)
        if row.late and row.late.seconds:
            notes.insert(0, row.late.describe(row.earned))
    elif chosen:
        notes.insert(0, "Your notebook could not be graded automatically; your instructor can see why and will "
                        "look at it.")
    elif not rejected:
        notes.append("No notebook (.ipynb) was found in your submission. In Colab use File > Download > "
                     "Download .ipynb and upload that file.")
    result["output"] = "\n".join(notes)
    return result


def _output(message: str, url: str | None) -> str:
    """A test's text on Gradescope: its message, then where the book states the task (plain text: a message
    is the student's code's, so it is never rendered as Markdown or HTML)."""
    return "\n\n".join(filter(None, [message, f"The task in the book: {url}" if url else ""]))


def _links(course_folder: Path) -> dict[str, str]:
    """The task links `build` bundled ({} when the course names no book address)."""
    path = course_folder / TASK_LINKS
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def submission_times(path: Path) -> tuple[float | None, str | None]:
    """When Gradescope received the submission and the assignment's due date, from its submission_metadata.json
    (`created_at`, `assignment.due_date`); None for what it does not say (a local run has no such file)."""
    from datetime import datetime

    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
        created = metadata.get("created_at")
        due = (metadata.get("assignment") or {}).get("due_date")
        moment = datetime.fromisoformat(created) if isinstance(created, str) else None
        submitted = moment.timestamp() if moment and moment.tzinfo else None  # a time without its zone is no time
        return submitted, due if isinstance(due, str) else None
    except (OSError, ValueError, AttributeError, TypeError):
        return None, None


def run(root: Path, assignment: str) -> dict:
    """Grade /autograder/submission (under `root`) and write results/results.json.

    Student code runs in the strongest sandbox tier that works in the container (sandbox/tiers.py): bubblewrap,
    else (no namespaces, as in Gradescope's Docker) a uid of its own; with neither, nothing is graded.
    Gradescope unpacks the bundle world-readable, so in the uid-only tier the bundle (solutions, checks,
    this package) is first made private to root: it is the grader's own copy.
    """
    from .sandbox import tiers
    from .grade import grade

    started = time.monotonic()
    try:
        tier = tiers.choose()
        if tier is tiers.Tier.UID:
            tiers.make_private(root / "source")
            results = root / "results"
            results.mkdir(exist_ok=True)
            results.chmod(0o755)  # written by root alone
        # stdout reaches the instructor, not the student
        print(f"{'' if tier is tiers.Tier.BWRAP else 'WARNING: '}Sandbox tier '{tier}': {tiers.describe(tier)}.")
        # one submission per fresh container: no reference values for later submissions (spare_seeds)
        course = root / "source" / "course"
        submitted, due = submission_times(root / "submission_metadata.json")
        outcome = grade([root / "submission"], root / "graded", course=Course(course), assignment=assignment,
                        student="submission", workers=1, stream=sys.stdout, tier=tier, spare_seeds=False,
                        submitted_at=submitted, due={assignment: due} if due else None)
        result = results_json(outcome.rows, time.monotonic() - started, _links(course))
        print(outcome.summary())
    except UsageError as error:  # e.g. no sandbox tier works in this container: nothing was graded
        print(f"ERROR: {error}")
        result = {"score": 0.0, "execution_time": int(time.monotonic() - started), "tests": [],
                  "output": "Your notebook could not be graded automatically; your instructor has been told.",
                  "visibility": "visible"}
    except Exception as error:  # Gradescope must always get a results.json
        print(f"ERROR: {type(error).__name__}: {error}")
        result = {"score": 0.0, "execution_time": int(time.monotonic() - started), "tests": [],
                  "output": f"The autograder itself failed ({type(error).__name__}: {error}); "
                            "your instructor has been told.", "visibility": "visible"}
    atomic_write(root / "results" / "results.json", json.dumps(result, indent=1, ensure_ascii=False))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.gradescope",
                                     description="Grade one Gradescope submission (run by run_autograder).")
    parser.add_argument("--root", default="/autograder", help="Gradescope's folder (default: /autograder)")
    parser.add_argument("--assignment", required=True, help="assignment id")
    args = parser.parse_args(argv)
    run(Path(args.root), args.assignment)
    return 0


if __name__ == "__main__":
    sys.exit(main())
