"""`private-course DIR`: a course folder of its own, for an instructor who grades for credit.

The open book publishes `solutions/` (reference answers and hidden tests) and the trusted checks for
self-learners, so anything graded from this repository is graded against answers any student can read.
A private course is a copy, kept where students cannot read it, that `release` and `grade` use with
`--course DIR`:

    DIR/nbgrader_config.py      the same nbgrader layout (solutions/ -> exercises/)
    DIR/solutions/<id>/         the sources, to change: other numbers, data, hidden tests, even tasks
    DIR/checks/<id>.py          the trusted checks, which this course then uses instead of the package's
    DIR/data/                   what the notebooks read
    DIR/exercises/<id>/         the student versions (copied; `release --course DIR` regenerates them from solutions/)
    DIR/grading.toml            settings: options, due dates, late policy, similarity, Canvas ids
    DIR/_config.yml             only html.baseurl: feedback links each task to its section of the public book
    DIR/README.md, .gitignore   what to do next; graded/ and .grading/ stay out of git

Nothing that exists is overwritten: the folder must be new or empty.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .course import BOOK_CONFIG, CONFIG_NAME, SETTINGS_NAME, Course
from .model import UsageError

IGNORED = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")
GITIGNORE = "graded/\n.grading/\n*.zip\n"
SETTINGS = """# The course's grading settings (see the autograder's README, "One settings file: grading.toml").
# A flag given to `python -m autograder grade` wins over what this file says.

[grade]
workers = 2

# [late]
# percent = 10          # of the points earned, per started day late
# per = "day"
# max_percent = 50

# [similarity]
# threshold = 0.8

{assignments}"""
README = """# {name}: a private Keras Deep Dive course

Made by `python -m autograder private-course` from {origin}. Keep this folder where students cannot read
it: `solutions/` holds the reference answers and hidden tests, `checks/` the trusted checks.

The open book's solutions are public. Before grading for credit, change what is graded, so that the
published answers do not fit: other numbers, shapes or data in the tasks and hidden tests of
`solutions/<id>/<id>.ipynb`, and the matching probes in `checks/<id>.py`.

1. Regenerate and validate the student versions after every change (the reference must score full marks,
   the student version zero):

       python -m autograder release --course {path}

2. Give students `exercises/<id>/<id>.ipynb` (upload them to your LMS, or to Colab), not the public book's
   when you changed the tasks.
3. Set due dates, the late policy and Canvas ids in `grading.toml`.
4. Grade a download:

       python -m autograder grade --course {path} SUBMISSIONS.zip --out graded/<id>

   or build a Gradescope autograder: `python -m autograder gradescope <id> --course {path}`.
"""


def create(course: Course, target: Path, assignments: list[str] | None = None) -> list[str]:
    """Copy `course`'s assignments (default: all), with their student versions, into a new private course at
    `target`; returns the assignments copied."""
    names = assignments or course.assignments()
    unknown = [name for name in names if name not in course.assignments()]
    if unknown:
        raise UsageError(f"{', '.join(unknown)}: not an assignment of {course.root} (it has: "
                         f"{', '.join(course.assignments())}).")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"{target} exists and is not an empty folder: name a new folder (nothing is overwritten).")
    if target.resolve().is_relative_to(course.root.resolve()):
        raise UsageError(f"{target} is inside {course.root}, which students can read if it is the public book: "
                         "make the private course somewhere else.")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(course.config_file or course.root / CONFIG_NAME, target / CONFIG_NAME)
    private = Course(target)
    for name in names:
        shutil.copytree(course.source_dir / name, private.source_dir / name, ignore=IGNORED)
        if course.release_notebook(name).is_file():
            shutil.copytree(course.release_dir / name, private.release_dir / name, ignore=IGNORED)
        check = course.checks_dir / f"{name}.py"
        if check.is_file():
            (target / "checks").mkdir(exist_ok=True)
            shutil.copy2(check, target / "checks" / check.name)
    if (course.root / "data").is_dir():
        shutil.copytree(course.root / "data", target / "data", ignore=IGNORED)
    if (course.root / SETTINGS_NAME).is_file():
        shutil.copy2(course.root / SETTINGS_NAME, target / SETTINGS_NAME)
    else:
        blocks = "".join(f"[assignments.{name}]\n# due = 2026-10-01T23:59:00+09:00\n# canvas_id = 1234\n\n"
                         for name in names)
        (target / SETTINGS_NAME).write_text(SETTINGS.format(assignments=blocks), encoding="utf-8")
    if course.site_url:
        (target / BOOK_CONFIG).write_text(f"# only where the public book is: feedback links each task to it\n"
                                          f"html:\n  baseurl: {course.site_url}\n", encoding="utf-8")
    (target / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    (target / "README.md").write_text(README.format(name=target.name, origin=course.root, path=target),
                                      encoding="utf-8")
    return names
