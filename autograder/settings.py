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

    @classmethod
    def from_table(cls, table: object) -> GradeOptions:
        if not isinstance(table, dict):
            raise ValueError("[grade] must be a table, e.g. [grade] then workers = 2")
        known = {option.name: option for option in fields(cls)}
        unknown = set(table) - set(known)
        if unknown:
            raise ValueError(f"[grade] has no setting {', '.join(sorted(unknown))} (it has {', '.join(known)})")
        for name, value in table.items():
            if name == "csv_bom":
                if not isinstance(value, bool):
                    raise ValueError(f"[grade] csv_bom = {value!r}: write true or false")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"[grade] {name} = {value!r}: give a whole number of at least 1")
        return cls(**table)


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
            return cls(GradeOptions.from_table(found.get("grade", {})), late.policies(found),
                       similarity.Settings.from_settings(found), _canvas_ids(assignments))
        except CourseError as error:
            raise UsageError(str(error)) from None
        except (ValueError, TypeError) as error:  # late.PolicyError is a ValueError
            raise UsageError(f"{course.root / SETTINGS_NAME}: {error}") from None


def _canvas_ids(assignments: dict) -> dict[str, int]:
    ids = {}
    for name, entry in assignments.items():
        if "canvas_id" in entry:
            value = entry["canvas_id"]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"[assignments.{name}] canvas_id = {value!r}: give the number in the assignment's "
                                 "Canvas address (…/assignments/1234)")
            ids[name] = value
    return ids
