"""Code similarity of answer cells (issue 18): between students, and against the published reference solution.

Fingerprints come from copydetect (winnowing over Pygments tokens): names, strings and comments are
normalised away, so a copy with renamed variables and new comments still matches. What every student is
given (the answer cells of the student version: signatures, comments, the stub line) is boilerplate and never
counts, and so is a passage that more than a `common` share of the students wrote, and more than 10 (the
one obvious way to do a task).
A pair is reported when one side's code is at least `threshold` covered by the other's; code shorter
than `min_length` normalised characters is too short to judge. Nothing here changes a score: the pairs go
to the report and as flags into grades.json, for the instructor to look at.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from dataclasses import dataclass, replace
from html import escape
from typing import TYPE_CHECKING, Callable

from .course import AssignmentSpec, grade_id
from .model import Row, Status

if TYPE_CHECKING:
    from copydetect import CodeFingerprint

REFERENCE = "the published reference solution"
SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n(.*?)^[ \t]*### END SOLUTION[^\n]*$", re.S | re.M)
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)
K = 25  # characters per fingerprint (copydetect's noise threshold, its default)
COMMON_FLOOR = 10  # a passage that 10 students or fewer share is never "what everyone writes"
MAX_CODE = 200_000  # characters of a submission's answer code compared (more is no answer to these tasks)


@dataclass(frozen=True)
class Settings:
    """grading.toml's [similarity] table (read and checked by settings.py)."""

    threshold: float = 0.8  # the share of one side's code found in the other's that makes a pair
    min_length: int = 80  # normalised characters below which code is too short to judge
    common: float = 0.25  # a passage in more than this share of the students' code (and 10) is what everyone writes


@dataclass(frozen=True)
class Pair:
    """Two codes of one assignment that look alike: `shares` is how much of each is found in the other."""

    assignment: str
    first: str  # a student
    second: str  # another student, or REFERENCE
    shares: tuple[float, float]
    code: tuple[str, str]  # each side's answer code as HTML, the shared passages in <mark>

    @property
    def share(self) -> float:
        return max(self.shares)

    def to_json(self) -> dict:
        return {"assignment": self.assignment, "students": [self.first, self.second],
                "shares": [round(share, 3) for share in self.shares]}


def _text(source: object) -> str:
    if isinstance(source, list):
        return "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def answer_code(notebook: bytes | str, spec: AssignmentSpec) -> str:
    """The answer cells of a notebook, in the source's order ("" when it cannot be read)."""
    try:
        cells = json.loads(notebook).get("cells", [])
    except (ValueError, AttributeError, RecursionError):
        return ""
    answers = [answer for test in spec.tests for answer in test.answers]
    by_id: dict[str, str] = {}
    for cell in cells if isinstance(cells, list) else []:
        found = grade_id(cell) if isinstance(cell, dict) else None
        if found in answers and found not in by_id:
            by_id[found] = _text(cell.get("source"))
    return "\n\n".join(filter(None, (by_id.get(answer) for answer in answers)))[:MAX_CODE]


def given_and_reference(spec: AssignmentSpec) -> tuple[str, str]:
    """What the student version's answer cells give every student (each solution replaced by nbgrader's stub
    line) and the reference solution's answer code."""
    source = answer_code(spec.notebook.read_bytes(), spec)
    return SOLUTION.sub(r"\1raise NotImplementedError()", source), HIDDEN.sub("", SOLUTION.sub(r"\2", source))


def _fingerprint(code: str, boilerplate: object = None) -> CodeFingerprint:
    from copydetect import CodeFingerprint

    return CodeFingerprint("answer.py", K, 1, boilerplate=boilerplate, language="python",
                           fp=io.StringIO(code))


def _without(fingerprint: CodeFingerprint, common: set) -> CodeFingerprint:
    """The fingerprint less the passages in `common` (its documented attributes, as boilerplate would leave them)."""
    from copydetect.utils import get_token_coverage

    if fingerprint.hashes & common:
        fingerprint.hashes = fingerprint.hashes - common
        fingerprint.hash_idx = {key: value for key, value in fingerprint.hash_idx.items() if key not in common}
        fingerprint.token_coverage = get_token_coverage(fingerprint.hash_idx, fingerprint.k,
                                                        len(fingerprint.filtered_code))
    return fingerprint


def _highlight(code: str, slices) -> str:
    from copydetect.utils import highlight_overlap

    if slices.shape[0] == 0 or slices.shape[1] == 0:
        return escape(code)
    marked, _ = highlight_overlap(code, slices, "<mark>", "</mark>", escape_html=True)
    return marked


def pairs(rows: list[Row], read: Callable[[str], bytes], specs: dict[str, AssignmentSpec],
          settings: Settings) -> list[Pair]:
    """Every pair of counted submissions (and each against the reference) whose answer code looks alike;
    `read` gives a notebook's bytes by its hash (Archive.read)."""
    import numpy as np
    from copydetect import compare_files

    found: list[Pair] = []
    for name in sorted({row.assignment for row in rows if row.assignment in specs}):
        counted = [row for row in rows if row.assignment == name and row.chosen and row.status is Status.GRADED
                   and row.student and row.sha256]
        if not counted:
            continue
        given, reference = given_and_reference(specs[name])
        boilerplate = np.array(sorted(_fingerprint(given).hashes), dtype=np.int64)
        codes = {row.student: answer_code(read(row.sha256), specs[name]) for row in counted}
        prints = {student: _fingerprint(code, boilerplate) for student, code in codes.items()}
        seen = Counter(hash_ for fingerprint in prints.values() for hash_ in fingerprint.hashes)
        most = max(COMMON_FLOOR, settings.common * len(prints))
        common = {hash_ for hash_, count in seen.items() if count > most}  # what everyone writes
        prints = {student: _without(fingerprint, common) for student, fingerprint in prints.items()}
        prints_reference = _without(_fingerprint(reference, boilerplate), common)
        judged = [student for student in sorted(prints) if prints[student].token_coverage >= settings.min_length]
        for index, first in enumerate(judged):
            others = [(other, prints[other], codes[other]) for other in judged[index + 1:]]
            if prints_reference.token_coverage >= settings.min_length:
                others.append((REFERENCE, prints_reference, reference))
            for second, fingerprint, code in others:
                _, shares, slices = compare_files(prints[first], fingerprint)
                if max(shares) >= settings.threshold:
                    found.append(Pair(name, first, second, (float(shares[0]), float(shares[1])),
                                      (_highlight(codes[first], slices[0]), _highlight(code, slices[1]))))
    return found


def flag(rows: list[Row], found: list[Pair]) -> list[Row]:
    """Each counted row gains a flag per pair it is in; no score changes."""
    notes: dict[tuple[str, str], list[str]] = {}
    for pair in found:
        for me, other, mine in ((pair.first, pair.second, pair.shares[0]), (pair.second, pair.first, pair.shares[1])):
            if me == REFERENCE:
                continue
            who = other if other == REFERENCE else f"{other}'s"
            notes.setdefault((pair.assignment, me), []).append(
                f"integrity: answer code like {who} ({mine:.0%} of this code, names ignored; the score is unchanged)")
    return [replace(row, flags=(*row.flags, *notes[row.assignment, row.student]))
            if row.chosen and row.status is Status.GRADED and (row.assignment, row.student) in notes else row
            for row in rows]
