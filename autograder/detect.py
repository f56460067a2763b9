"""Check one submitted file and tell which assignment it is, or why it cannot be graded.

Every problem is a sentence that says what is wrong and what the student should do; the caller adds
the file name. The assignment comes from the notebook's nbgrader grade ids (`<assignment>-<task>`),
so Colab's renamed downloads ("Copy of rmse_metric.ipynb", "rmse_metric (1).ipynb") are recognised.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from dataclasses import dataclass

from . import bounded, speedups

speedups.apply()

import nbformat  # noqa: E402 (after the speed-up)

from .course import AssignmentSpec, grade_id, nbgrader_metadata

FRESH_COPY = ("Open the exercise again from the book (Open in Colab), paste your answers into that fresh copy, "
              "run it, and submit the downloaded .ipynb.")
DOWNLOAD = "In Colab use File > Download > Download .ipynb and submit that file."
# What a notebook may hold: JSON nesting, characters of one number, JSON values in all, and cells. Each
# bounds the work of reading it, here and in the worker; the book's largest notebook has 1,638 values,
# nested 5 deep.
MAX_DEPTH = 64
MAX_DIGITS = 100
MAX_VALUES = 200_000
MAX_CELLS = 2000
FLAGS = ("grade", "solution", "locked", "task")  # nbgrader's booleans


@dataclass(frozen=True)
class Detection:
    """The outcome of checking a file: an assignment to grade, or a problem (never both)."""

    assignment: str | None
    problem: str | None = None
    foreign: str | None = None  # the assignment its grade ids name, when this course does not grade it


def _reject(problem: str, assignment: str | None = None, foreign: str | None = None) -> Detection:
    return Detection(assignment, problem, foreign)


def guess_assignment(filename: str, specs: dict[str, AssignmentSpec]) -> str | None:
    """The assignment a file's name suggests ("Copy of rmse_metric (1).ipynb" -> rmse_metric), if any."""
    stem = re.sub(r"\.ipynb$", "", filename, flags=re.I)
    stem = re.sub(r"^(Copy of |사본 - )", "", stem)
    stem = re.sub(r"( ?\(\d+\)|-\d+)$", "", stem).strip()
    return stem if stem in specs else None


def detect(data: bytes, specs: dict[str, AssignmentSpec], *, expected: str | None = None,
           max_bytes: int = 20 * 2**20) -> Detection:
    """Check a submitted file's bytes against the course's assignments."""
    if len(data) > max_bytes:
        return _reject(f"is {len(data) / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit. Clear the "
                       "outputs (Edit > Clear all outputs in Colab), save, download again and resubmit.", expected)
    if not data.strip():
        return _reject(f"is empty. {DOWNLOAD}", expected)
    kind = _binary_kind(data)
    if kind:
        return _reject(f"is {kind}, not a notebook. {DOWNLOAD}", expected)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return _reject(f"is not UTF-8 text (byte {error.start}), so it is not a notebook. {DOWNLOAD}", expected)
    try:
        content = bounded.loads(text, max_depth=MAX_DEPTH, max_digits=MAX_DIGITS, max_values=MAX_VALUES)
    except bounded.Refused as error:
        return _reject(f"is not a notebook an exercise can become: it holds {error}. {FRESH_COPY}", expected)
    except json.JSONDecodeError as error:
        if error.pos >= len(text.rstrip()) - 1:
            return _reject(f"is cut off: the JSON ends early (line {error.lineno}). The upload or download was "
                           f"interrupted; download the notebook again and resubmit. {DOWNLOAD}", expected)
        return _reject(f"is not a notebook: it is not JSON ({error.msg} at line {error.lineno}). "
                       f"It may have been saved as a script or web page. {DOWNLOAD}", expected)
    if not isinstance(content, dict) or "cells" not in content and "worksheets" not in content:
        return _reject(f"is JSON but not a Jupyter notebook (no cells). {DOWNLOAD}", expected)
    if isinstance(content.get("cells"), list) and len(content["cells"]) > MAX_CELLS:
        return _reject(f"has {len(content['cells'])} cells, more than the {MAX_CELLS} accepted (the exercises have "
                       f"a few dozen). Delete the cells you added, or paste your answers into a fresh copy: "
                       f"{FRESH_COPY}", expected)
    major = content.get("nbformat")
    if major != 4:
        return _reject(f"uses notebook format {_quote(major)}, but format 4 is needed. Open it in Colab or Jupyter, "
                       f"save it (which converts it to format 4) and resubmit. {DOWNLOAD}", expected)
    try:
        with warnings.catch_warnings():  # nbformat warns (and repairs) e.g. duplicate cell ids; we only check
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(text, as_version=4)
            nbformat.validate(notebook)
    except Exception as error:  # nbformat raises several types for invalid notebooks
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        return _reject(f"is not a valid notebook ({first}). {FRESH_COPY}", expected)
    language = _language(notebook)
    if language and language.lower() != "python":
        return _reject(f"is a notebook for the {_quote(language)} language, but the exercises are Python. "
                       f"{FRESH_COPY}", expected)
    for number, cell in enumerate(notebook.cells, 1):
        if (problem := _grading_data_problem(cell.metadata)) is not None:
            return _reject(f"has grading data that nbgrader cannot use in cell {number}: {problem}. The cell was "
                           f"edited outside the notebook, or copied from another one. {FRESH_COPY}", expected)
    return _check_cells(notebook, specs, expected)


def _grading_data_problem(metadata: dict) -> str | None:
    """What is wrong with the types of a cell's nbgrader metadata (the fields grading reads), if anything."""
    if "nbgrader" not in metadata:
        return None
    data = metadata["nbgrader"]
    if not isinstance(data, dict):
        return f"its nbgrader data is {_kind(data)}, not an object"
    if "grade_id" in data and not isinstance(data["grade_id"], str):
        return f"its grade_id is {_kind(data['grade_id'])}, not text"
    points = data.get("points", 0)
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not 0 <= points < float("inf"):
        return f"its points are {_kind(points)}, but points must be a number, 0 or more"
    for flag in FLAGS:
        if flag in data and not isinstance(data[flag], bool):
            return f"its {flag} flag is {_kind(data[flag])}, not true or false"
    return None


def _kind(value: object) -> str:
    """How a student-made JSON value is named in a message: its type (a number: the number, cut)."""
    if isinstance(value, bool) or value is None:
        return "true or false" if value is not None else "null"
    if isinstance(value, (int, float)):
        return f"the number {_quote(repr(value))}"
    return "an object" if isinstance(value, dict) else "a list" if isinstance(value, list) else "text"


def _quote(text: object, limit: int = 40) -> str:
    """Student-made text cut for a message."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _binary_kind(data: bytes) -> str | None:
    head = data[:8]
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        return "an image"
    if b"\x00" in data[:4096]:
        return "a binary file"
    return None


def _language(notebook) -> str | None:
    spec = notebook.metadata.get("kernelspec", {})
    info = notebook.metadata.get("language_info", {})
    language = spec.get("language") or info.get("name")
    return str(language) if language else None


def _check_cells(notebook, specs: dict[str, AssignmentSpec], expected: str | None) -> Detection:
    ids = [found for cell in notebook.cells if (found := grade_id(cell)) is not None]
    graded = [found for cell in notebook.cells
              if nbgrader_metadata(cell).get("grade") and (found := grade_id(cell)) is not None]
    prefixes = sorted({str(grade_id).split("-")[0] for grade_id in (graded or ids)})
    known = [prefix for prefix in prefixes if prefix in specs]
    if not ids:
        return _reject(f"has no graded cells, so it is not one of the exercise notebooks (or its cells were copied "
                       f"into a new notebook, which drops their grading data). {FRESH_COPY}", expected)
    if expected is not None:
        if expected not in specs:
            return _reject(f"was to be graded as '{expected}', which is not an assignment of this course.", expected)
        others = [prefix for prefix in known if prefix != expected]
        if others and expected not in known:
            return _reject(f"is the '{others[0]}' notebook, but '{expected}' was expected. Submit the "
                           f"'{expected}' notebook for this assignment.", expected)
        assignment = expected
    elif len(known) > 1:
        return _reject(f"mixes cells of several assignments ({', '.join(known)}). Submit each exercise in its "
                       f"own notebook. {FRESH_COPY}")
    elif not known:
        return _reject(f"belongs to assignment '{_quote(prefixes[0])}', which this course does not grade "
                       f"(it grades: {', '.join(sorted(specs))}). Submit the notebook of the right exercise.",
                       foreign=prefixes[0])
    else:
        assignment = known[0]
    spec = specs[assignment]
    counts = Counter(ids)
    duplicated = sorted(grade_id for grade_id, count in counts.items() if count > 1 and grade_id in spec.cell_ids)
    if duplicated:
        return _reject(f"contains the cell '{duplicated[0]}' more than once (a copied cell keeps the original's "
                       f"grading data). Delete the copy, keep the original, and resubmit.", assignment)
    missing = [test.grade_id for test in spec.tests if test.grade_id not in counts]
    if missing:
        return _reject(f"is missing the test cell{'s' if len(missing) > 1 else ''} {', '.join(missing)}: test cells "
                       f"must stay in the notebook. {FRESH_COPY}", assignment)
    return Detection(assignment)
