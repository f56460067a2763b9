"""What flows through grading, as typed values; dicts and JSON only at the edges.

    Submission   one notebook found in the inputs, as the archive's manifest records it (intake.py)
    Candidate    a submission and the assignment it was detected as, or why it cannot be graded (detect.py)
    TestResult   one graded test: its points, the message a learner may see, the trusted check's verdict
    Result       one grading of one notebook (results.py): its tests, or why it could not be graded
    Row          one submission's line of grades.json, with what the CSV and the feedback pages need
    Status       a row's outcome: graded, rejected (the student must fix the file) or failed (the grader)

The edges: `Submission.from_entry` reads a manifest line, `Result.to_json`/`from_json` the cache in
results/, `Row.to_json` writes grades.json (export.py), gradescope.py writes Gradescope's results.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from dataclasses import dataclass, field
from typing import Callable, Iterable, TypeVar

FUTURE_MARGIN = 86_400.0  # zips store local time without a zone; a time further ahead of now is not believed


class UsageError(Exception):
    """A mistake in how the grader was called (not a problem with a submission)."""


class Status(str, enum.Enum):
    """A row's outcome; its value is what grades.json says."""

    GRADED = "graded"
    REJECTED = "rejected"  # the file cannot be graded as submitted: its student is told what to fix
    FAILED = "failed"  # the grader could not grade it: the instructor must look

    __hash__ = str.__hash__  # equal to its value, and hashed as it: "graded" in {Status.GRADED}

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Submission:
    """One notebook found in the inputs: a manifest entry of kind "submission" (intake.py, archive.py)."""

    id: str
    sha256: str | None
    name: str  # the file's name as received
    source: str  # where it came from, e.g. "subs.zip:alice/rmse_metric.ipynb"
    student: str | None
    assignment: str | None = None  # given at intake (--assignment), else detected later
    problem: str | None = None  # why it cannot be graded, found at intake
    size: int = 0
    mtime: float = 0.0
    arrived: float | None = None  # when its upload arrived, if that time is believable
    upload: str = ""
    lms: str | None = None  # "canvas" when the student is a Canvas user id
    student_name: str | None = None  # the LMS's display name
    lms_submission: int | None = None
    late: bool = False

    @classmethod
    def from_entry(cls, entry: dict) -> Submission:
        """A manifest entry (of this or an earlier version of the grader) as a Submission."""
        mtime = entry.get("mtime") or 0.0
        return cls(id=entry["id"], sha256=entry.get("sha256"), name=entry["name"], source=entry["source"],
                   student=entry.get("student"), assignment=entry.get("assignment"), problem=entry.get("problem"),
                   size=entry.get("size") or 0, mtime=mtime,
                   arrived=entry["arrived"] if "arrived" in entry else mtime,  # entries from before uploads were events
                   upload=entry.get("upload") or entry["source"], lms=entry.get("lms"),
                   student_name=entry.get("student_name"), lms_submission=entry.get("lms_submission"),
                   late=bool(entry.get("late")))

    @property
    def order(self) -> tuple:
        """Sort key, later submissions last: Canvas submission id, when the upload arrived, the file's time
        inside its upload (never a believed time later than the upload's), then name and hash (no ties)."""
        arrived = self.arrived or 0.0
        inside = self.mtime if arrived and self.mtime <= arrived + FUTURE_MARGIN else 0.0
        return (self.lms_submission or -1, arrived, inside, self.name, self.sha256 or "")


@dataclass(frozen=True)
class Candidate:
    """A submission and what detection made of it: the assignment to grade it as, or why it cannot be."""

    submission: Submission
    assignment: str | None
    problem: str | None = None  # the student must fix the file: a rejected row
    failure: str | None = None  # the grader cannot grade it (the instructor must fix something): a failed row

    @property
    def group(self) -> tuple[str | None, str | None]:
        return (self.submission.student, self.assignment)


@dataclass(frozen=True)
class TestResult:
    """One test of one graded notebook."""

    __test__ = False  # a result, not a test class for pytest to collect
    name: str  # the test cell's grade id
    score: float
    max_score: float
    passed: bool
    message: str  # what the learner may see (results.py)
    trusted: bool | None = None  # the trusted check's verdict; None: not checked
    title: str = ""  # the task's name for learners (course.Test.title)

    @property
    def task(self) -> str:
        """The task's name: the grade id without the assignment."""
        return self.name.split("-", 1)[-1]

    def to_json(self, cached: bool = False) -> dict:
        """grades.json's form; `cached`: the result cache's, without what grading adds later (the trusted
        check's verdict, the title from the current source)."""
        data = {"name": self.name, "score": self.score, "max_score": self.max_score, "passed": self.passed,
                "message": self.message}
        if not cached:
            data.update(trusted=self.trusted, title=self.title)
        return data

    @classmethod
    def from_json(cls, data: dict) -> TestResult:
        return cls(data["name"], data["score"], data["max_score"], data["passed"], data["message"],
                   data.get("trusted"))


@dataclass(frozen=True)
class Result:
    """One grading of one notebook: nbgrader's tests and what the trusted check's probes printed, or why
    it could not be graded (`error`; with GRADED, a note on limits reached)."""

    status: Status
    tests: tuple[TestResult, ...] = ()
    error: str | None = None
    seconds: float | None = None
    trusted: object = None  # the probes' observations: one dict (a submission), a list of dicts (a reference job)

    @classmethod
    def failed(cls, error: str) -> Result:
        return cls(Status.FAILED, error=error)

    def to_json(self) -> dict:
        """The form cached in results/<key>.json."""
        return {"status": self.status.value, "tests": [test.to_json(cached=True) for test in self.tests],
                "error": self.error, "seconds": self.seconds, "trusted": self.trusted}

    @classmethod
    def from_json(cls, data: dict) -> Result:
        return cls(Status(data["status"]), tuple(TestResult.from_json(test) for test in data.get("tests", [])),
                   data.get("error"), data.get("seconds"), data.get("trusted"))


@dataclass(frozen=True)
class Row:
    """One submission's line of grades.json, plus what the CSV (`lms`, `student_name`) and the choice of
    feedback pages (`chosen`, `order`) need."""

    student: str | None
    assignment: str | None
    source: str
    sha256: str | None
    status: Status
    score: float | None
    max_score: float | None
    tests: tuple[TestResult, ...] = ()
    error: str | None = None
    flags: tuple[str, ...] = ()
    lms: str | None = None
    student_name: str | None = None
    chosen: bool = False  # the submission that counts for its student and assignment
    order: tuple = field(default=(), compare=False)
    overrides: tuple = ()  # overrides.Override lines applied to this row, in the order applied
    submitted: float | None = None  # when it came (Submission.arrived), seconds since the epoch, if known
    late: object = None  # late.Lateness, when the assignment has a due date
    lms_submission: int | None = None  # a Canvas download's attachment id (its name's second number)

    @property
    def earned(self) -> float:
        """The points of the tests, before any late penalty or total override."""
        return float(sum(test.score for test in self.tests))

    def to_json(self) -> dict:
        """The grades.json form: exactly the documented keys, in this order."""
        return {"student": self.student, "assignment": self.assignment, "source": self.source,
                "sha256": self.sha256, "status": self.status.value, "score": self.score,
                "max_score": self.max_score, "tests": [test.to_json() for test in self.tests],
                "error": self.error, "flags": list(self.flags),
                "overrides": [override.to_json() for override in self.overrides],
                "submitted_at": (datetime.fromtimestamp(self.submitted, timezone.utc).isoformat()
                                 if self.submitted else None),
                "late": self.late.to_json(self.earned) if self.late else None}


T = TypeVar("T")


def latest(items: Iterable[T], group: Callable[[T], object], order: Callable[[T], tuple]) -> dict[object, T]:
    """The last item of each group by `order` (the first of equals): which submission counts, which row
    gets the feedback page."""
    chosen: dict[object, T] = {}
    for item in items:
        key = group(item)
        if key not in chosen or order(item) > order(chosen[key]):
            chosen[key] = item
    return chosen
