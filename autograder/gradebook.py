"""nbgrader gradebooks: per-assignment templates for job folders, and the course gradebook.

The course gradebook is nbgrader's SQLite database `<out>/gradebook.db` by default; `--db URL` passes
any SQLAlchemy URL nbgrader accepts (e.g. a PostgreSQL server shared by several graders). Workers
never write to it: each job grades against a private copy of a template, and the parent writes the
results here, one submission at a time, so any number of workers ends in one consistent gradebook.
"""

from __future__ import annotations

import os
import shutil
import warnings
from datetime import datetime, timezone
from pathlib import Path

from . import speedups
from .course import AssignmentSpec, nbgrader_config
from .model import Row, Status

speedups.apply()


def generate(spec: AssignmentSpec, db_url: str, scratch: Path, config_file: Path | None) -> None:
    """Run nbgrader's generate_assignment for `spec` in a scratch course so that `db_url` knows it."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory

    speedups.fast_gradebook_creation()
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(spec.folder, scratch / "source" / spec.name,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    config = nbgrader_config(scratch, spec.name, config_file=config_file, db_url=db_url)
    converter = GenerateAssignment(coursedir=CourseDirectory(config=config), config=config)
    converter.force = True
    converter.create_assignment = True
    converter.start()


RELEASED = "released.ipynb"  # in a template: the student version nbgrader generated (its cell metadata)


def template(spec: AssignmentSpec, cache: Path, config_file: Path | None) -> Path:
    """A folder with `gradebook.db` knowing only this assignment, and the student version nbgrader
    generated with it, `released.ipynb` (built once per source version)."""
    target = cache / f"{spec.name}-{spec.source_sha256[:16]}"
    if (target / "gradebook.db").exists() and (target / RELEASED).exists():
        return target
    scratch = cache / f".building-{spec.name}-{os.getpid()}"
    generate(spec, f"sqlite:///{scratch / 'gradebook.db'}", scratch, config_file)
    os.replace(scratch / "release" / spec.name / spec.notebook.name, scratch / RELEASED)
    shutil.rmtree(scratch / "release", ignore_errors=True)
    try:
        os.rename(scratch, target)  # fails when the folder exists: another run built it meanwhile
    except OSError:
        if (target / "gradebook.db").exists() and (target / RELEASED).exists():
            shutil.rmtree(scratch)  # theirs is the same and may be in use by its jobs: never replace it
        else:  # a folder left incomplete by hand
            shutil.rmtree(target)
            os.rename(scratch, target)
    return target


def record(db_url: str, rows: list[Row], scratch: Path, specs: dict[str, AssignmentSpec],
           config_file: Path | None) -> None:
    """Write the scores of graded rows into the course gradebook (idempotent)."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    graded = [row for row in rows if row.status is Status.GRADED]
    if not graded:
        return
    speedups.fast_gradebook_creation()
    with Gradebook(db_url) as gradebook:
        known = {assignment.name for assignment in gradebook.assignments}
    for name in sorted({row.assignment for row in graded} - known):
        generate(specs[name], db_url, scratch / f"generate-{name}", config_file)
        shutil.rmtree(scratch / f"generate-{name}", ignore_errors=True)
    with Gradebook(db_url) as gradebook, warnings.catch_warnings():
        # nbgrader 0.9 with SQLAlchemy 2 warns about its own session handling; the rows are written correctly
        warnings.simplefilter("ignore", SAWarning)
        for row in graded:
            manual = {override.task: override for override in row.overrides}  # the last change of each task
            gradebook.update_or_create_student(row.student)
            if row.late:  # nbgrader's own fields for late work: the due date, the submission's time, its penalty
                gradebook.update_or_create_assignment(row.assignment, duedate=row.late.due.astimezone(timezone.utc))
            when = {"timestamp": datetime.fromtimestamp(row.submitted, timezone.utc)} if row.submitted else {}
            gradebook.update_or_create_submission(row.assignment, row.student, **when)
            if row.late:
                notebook = gradebook.find_submission_notebook(row.assignment, row.assignment, row.student)
                notebook.late_submission_penalty = row.late.penalty(row.earned) or None
            for test in row.tests:
                try:
                    grade = gradebook.find_grade(test.name, row.assignment, row.assignment, row.student)
                except MissingEntry:
                    continue  # the source notebook changed since the gradebook learnt it
                override = manual.get(test.task)
                # nbgrader's own fields: its score, and a grader's manual score that replaces it
                grade.auto_score = test.score if override is None else override.before
                grade.manual_score = None if override is None else override.points
                grade.needs_manual_grade = False
            gradebook.db.commit()
