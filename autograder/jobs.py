"""One grading job: a private nbgrader course folder for one submission (its results: results.py).

Layout of a job folder (created by the parent, graded by a worker, read back by the parent):
  source/<a>/...                       copy of the assignment's source folder
  gradebook.db                         copy of the assignment's template gradebook (no students)
  submitted/<student>/<a>/<a>.ipynb    the archived submission, under the name nbgrader expects
  autograded/<student>/<a>/<a>.ipynb   written by nbgrader; its cells' outputs give the messages
  data -> <course>/data                so notebooks find data/ above their working folder (without the
                                       sandbox; inside it, the data is at /data)
plus what the sandbox records about the job's kernel (sandbox/names.py), for its cleanup.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from . import trusted
from .course import AssignmentSpec, grade_id, nbgrader_metadata
from .trusted import Check

JOB_STUDENT = "student"  # the id inside a job folder; the real id is attached by the parent


def prepare(workdir: Path, spec: AssignmentSpec, template: Path, submission: Path, data_dir: Path | None,
            probes: tuple[Check, list[int]] | None = None) -> list[str]:
    """Create a job folder for grading `submission` as assignment `spec`.

    With `probes` (a check and its seeds: one for a submission, several for a reference job), the
    trusted check's probe cells are added to the job's copy of the notebook; the nonces that mark
    each seed's output are returned.
    """
    if workdir.exists():
        shutil.rmtree(workdir)
    name = spec.name
    shutil.copytree(spec.folder, workdir / "source" / name,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    shutil.copyfile(template / "gradebook.db", workdir / "gradebook.db")
    target = workdir / "submitted" / JOB_STUDENT / name / f"{name}.ipynb"
    target.parent.mkdir(parents=True)
    from .gradebook import RELEASED

    notebook = json.loads(submission.read_bytes())
    restore_grading_metadata(notebook, json.loads((template / RELEASED).read_bytes()))
    nonces: list[str] = []
    if probes is not None:
        check, seeds = probes
        nonces = trusted.add_probes(notebook, check, seeds, {test.grade_id.removeprefix(f"{name}-"): test.grade_id
                                                           for test in spec.tests})
    target.write_text(json.dumps(notebook, ensure_ascii=False), encoding="utf-8")
    if data_dir is not None and data_dir.is_dir():
        (workdir / "data").symlink_to(data_dir.resolve(), target_is_directory=True)
    return nonces


def restore_grading_metadata(notebook: dict, released: dict) -> None:
    """Give every graded cell back the nbgrader metadata it was released with.

    nbgrader restores the source and points of a test cell but trusts the rest of its metadata, and
    fails on a cell whose flags were edited (`grade`, `solution`, `locked`). A cell whose grade id the
    released notebook does not have (a "bonus" cell a student marked as graded) loses its nbgrader
    metadata and is run as an ordinary cell.
    """
    original = {found: nbgrader_metadata(cell) for cell in released["cells"] if (found := grade_id(cell)) is not None}
    for cell in notebook.get("cells", []):
        metadata = cell.get("metadata")
        if not isinstance(metadata, dict) or "nbgrader" not in metadata:
            continue
        found = grade_id(cell)
        if found in original:
            metadata["nbgrader"] = dict(original[found])
        else:
            del metadata["nbgrader"]


def autograded_notebook(workdir: Path, spec: AssignmentSpec) -> Path:
    return workdir / "autograded" / JOB_STUDENT / spec.name / f"{spec.name}.ipynb"
