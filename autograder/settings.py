"""grading.toml: a course's grading settings in one file, next to nbgrader_config.py.

    [grade]                       # defaults of `grade`'s options; a flag on the command line wins
    workers = 2
    timeout = 600                 # seconds for a whole notebook (--timeout)
    cell_timeout = 120            # --cell-timeout
    memory_mb = 4096              # --memory-mb
    max_file_mb = 20              # --max-file-mb
    csv_bom = true                # grades.csv starts with a UTF-8 byte order mark (--csv-bom)
    [late]                        # late.py
    [similarity]                  # similarity.py
    [assignments.rmse_metric]
    due = ...                     # late.py
    canvas_id = 1234              # grades.csv names the column "rmse_metric (1234)", as Canvas's export does

Every mistake in it is a UsageError that names the file, the setting and what to write.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from . import late, similarity
from .course import SETTINGS_NAME, Course, CourseError
from .limits import Limits
from .model import UsageError

_LIMITS = Limits()


@dataclass(frozen=True)
class GradeOptions:
    """[grade]: the defaults of `grade`'s options (the CLI's flags override them)."""

    workers: int = 1
    timeout: int = _LIMITS.notebook_seconds
    cell_timeout: int = _LIMITS.cell_seconds
    memory_mb: int = _LIMITS.memory_mb
    max_file_mb: int = _LIMITS.file_mb
    csv_bom: bool = False


@dataclass(frozen=True)
class Settings:
    """Everything grading.toml says ({} when the course has none: every default)."""

    grade: GradeOptions = field(default_factory=GradeOptions)
    due: dict[str, late.Policy] = field(default_factory=dict)
    similarity: similarity.Settings = field(default_factory=similarity.Settings)
    canvas_ids: dict[str, int] = field(default_factory=dict)

    @classmethod
    def read(cls, course: Course, due: dict[str, object] | None = None) -> Settings:
        """The course's settings; `due` (assignment -> a due date) wins over the file's (an LMS's own dates)."""
        try:
            found = dict(course.settings)
            assignments = found.get("assignments", {})
            if not isinstance(assignments, dict) or not all(isinstance(entry, dict) for entry in assignments.values()):
                raise ValueError("[assignments.<id>] must be tables, e.g. [assignments.rmse_metric] then due = ...")
            assignments = {**assignments, **{name: {**assignments.get(name, {}), "due": moment}
                                             for name, moment in (due or {}).items()}}
            found["assignments"] = assignments
            return cls(_table(GradeOptions, "grade", found.get("grade", {})), late.policies(found),
                       _table(similarity.Settings, "similarity", found.get("similarity", {})),
                       _canvas_ids(assignments))
        except CourseError as error:
            raise UsageError(str(error)) from None
        except (ValueError, TypeError) as error:  # late.PolicyError is a ValueError
            raise UsageError(f"{course.root / SETTINGS_NAME}: {error}") from None


SHARES = {"threshold", "common"}  # settings that are a share between 0 and 1; the others but csv_bom are counts


def _table(kind: type, name: str, table: object):
    """A [name] table as the dataclass `kind`, each value checked (a ValueError says what to write)."""
    if not isinstance(table, dict):
        raise ValueError(f"[{name}] must be a table, e.g. [{name}] on a line, then its settings")
    known = tuple(option.name for option in fields(kind))
    unknown = set(table) - set(known)
    if unknown:
        raise ValueError(f"[{name}] has no setting {', '.join(sorted(unknown))} (it has {', '.join(known)})")
    for key, value in table.items():
        _check(f"[{name}] {key}", value, share=key in SHARES, flag=key == "csv_bom")
    return kind(**table)


def _check(where: str, value: object, share: bool = False, flag: bool = False,
           fix: str = "give a whole number of at least 1") -> None:
    if flag:
        if not isinstance(value, bool):
            raise ValueError(f"{where} = {value!r}: write true or false")
    elif share:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ValueError(f"{where} = {value!r}: give a share between 0 and 1, e.g. 0.8")
    elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where} = {value!r}: {fix}")


def _canvas_ids(assignments: dict) -> dict[str, int]:
    for name, entry in assignments.items():
        if "canvas_id" in entry:
            _check(f"[assignments.{name}] canvas_id", entry["canvas_id"],
                   fix="give the number in the assignment's Canvas address (…/assignments/1234)")
    return {name: entry["canvas_id"] for name, entry in assignments.items() if "canvas_id" in entry}
