"""Due dates and late work: the course's policy (grading.toml), when a submission came, and its penalty.

    [late]                        # every assignment's policy, unless it sets its own
    percent = 10                  # of the points earned, per started day (or hour) after the due date
    per = "day"                   # "day" or "hour"
    max_percent = 50              # the penalty never takes more
    [assignments.rmse_metric]
    due = 2026-10-01T23:59:00+09:00       # a TOML date and time with its zone
    cutoff = 2026-10-08T23:59:00+09:00    # optional: work after it scores 0
    late = { percent = 5, per = "hour" }  # optional: this assignment's own policy

A submission's time is what its source says (intake.py): when its upload arrived (a Canvas
submission's file time, a zip entry's time, a file's time), never later than the zip that held it.
A Canvas download says itself which uploads came late (`_LATE_` in the name): Canvas's word decides
whether such a submission is late, and one it marks late whose time is unknown or not after the due
date counts as one day (or hour) late. A submission without a known time gets no penalty, and its
row says so. The penalty is that of nbgrader's LateSubmissionPlugin interface (`PercentPerUnit`):
points taken from the score, here a share of the points earned, so it never makes a score negative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Enum, Float

from .model import Submission

UNITS = {"day": 86_400, "hour": 3_600}


class PolicyError(ValueError):
    """A due date or late policy in grading.toml that cannot be used (the message says what to write)."""


class PercentPerUnit(LateSubmissionPlugin):
    """nbgrader's late-submission plugin with a penalty of `percent` of the score per started `per` (day or
    hour) of lateness, at most `max_percent`."""

    percent = Float(0.0, help="Percent of the score taken per started unit of lateness.").tag(config=True)
    per = Enum(tuple(UNITS), default_value="day", help="The unit of lateness: day or hour.").tag(config=True)
    max_percent = Float(100.0, help="The largest penalty, in percent of the score.").tag(config=True)

    def units(self, total_seconds_late: float) -> int:
        return math.ceil(total_seconds_late / UNITS[self.per]) if total_seconds_late > 0 else 0

    def share(self, total_seconds_late: float) -> float:
        """The share of the score taken (0 to 1)."""
        return min(self.percent * self.units(total_seconds_late), self.max_percent, 100.0) / 100.0

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float | None:
        return score * self.share(total_seconds_late) if total_seconds_late > 0 else None


@dataclass(frozen=True)
class Policy:
    """One assignment's due date and late policy."""

    due: datetime
    percent: float = 0.0
    per: str = "day"
    max_percent: float = 100.0
    cutoff: datetime | None = None

    @property
    def plugin(self) -> PercentPerUnit:
        return PercentPerUnit(percent=self.percent, per=self.per, max_percent=self.max_percent)

    def describe(self) -> str:
        rule = (f"{self.percent:g}% of the points earned per started {self.per} late, at most {self.max_percent:g}%"
                if self.percent else "no penalty for late work")
        return rule + (f"; nothing after {_when(self.cutoff)}" if self.cutoff else "")


@dataclass(frozen=True)
class Lateness:
    """When a submission came, how late, and the share of its points taken."""

    submitted: datetime | None
    due: datetime
    seconds: float  # after the due date (0: on time, or its time is unknown)
    share: float  # of the points earned, 0 to 1
    source: str  # where the verdict comes from
    rule: str  # the policy, in words

    def penalty(self, earned: float) -> float:
        return earned * self.share

    def to_json(self, earned: float) -> dict:
        return {"due": self.due.isoformat(), "seconds_late": self.seconds, "penalty": self.penalty(earned),
                "percent": round(self.share * 100, 6), "source": self.source, "policy": self.rule}

    def describe(self, earned: float) -> str:
        """What the learner's feedback page says."""
        if self.submitted is None and not self.seconds:
            return f"Due {_when(self.due)}. The time of this submission is unknown, so no late penalty applies."
        if not self.seconds:
            return f"Submitted {_when(self.submitted)}, on time (due {_when(self.due)})."
        taken = f"{self.penalty(earned):g} point(s) taken ({self.share * 100:g}%)" if self.share else "no penalty"
        when = f"Submitted {_when(self.submitted)}, " if self.submitted else ""
        return f"{when}{_duration(self.seconds)} after the due date ({_when(self.due)}): {taken}. Policy: {self.rule}."


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip() if moment else "unknown"


def _duration(seconds: float) -> str:
    days, rest = divmod(int(math.ceil(seconds)), 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = math.ceil(rest / 60)
    parts = [f"{days} day(s)"] * bool(days) + [f"{hours} hour(s)"] * bool(hours) + [f"{minutes} minute(s)"] * bool(
        minutes and not days)
    return " ".join(parts) or "less than a minute"


def _moment(value: object, where: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise PolicyError(f"{where}: {value!r} is not a date and time; write it like 2026-10-01T23:59:00+09:00")
    if not isinstance(value, datetime):
        raise PolicyError(f"{where}: {value!r} is not a date and time; write it like 2026-10-01T23:59:00+09:00")
    if value.tzinfo is None:
        raise PolicyError(f"{where}: {value.isoformat()} has no time zone; add it, e.g. {value.isoformat()}+09:00")
    return value


def policies(settings: dict, name: str = "grading.toml") -> dict[str, Policy]:
    """The due date and policy of each assignment that grading.toml gives a due date (PolicyError if wrong)."""
    default = settings.get("late", {})
    found = {}
    for assignment, entry in settings.get("assignments", {}).items():
        if "due" not in entry:
            continue
        where = f"{name}, [assignments.{assignment}]"
        rules = {**default, **entry.get("late", {})}
        unknown = set(rules) - {"percent", "per", "max_percent"}
        if unknown:
            raise PolicyError(f"{where}: unknown late setting(s) {', '.join(sorted(unknown))}; the settings are "
                              "percent, per and max_percent")
        if rules.get("per", "day") not in UNITS:
            raise PolicyError(f"{where}: per = {rules['per']!r}; write \"day\" or \"hour\"")
        numbers = {key: rules[key] for key in ("percent", "max_percent") if key in rules}
        if any(not isinstance(value, (int, float)) or value < 0 for value in numbers.values()):
            raise PolicyError(f"{where}: percent and max_percent are numbers of 0 or more, got {numbers}")
        cutoff = _moment(entry["cutoff"], f"{where} cutoff") if "cutoff" in entry else None
        found[assignment] = Policy(_moment(entry["due"], f"{where} due"), float(rules.get("percent", 0)),
                                   rules.get("per", "day"), float(rules.get("max_percent", 100)), cutoff)
    return found


def assess(policy: Policy | None, submission: Submission) -> Lateness | None:
    """How late a submission is under its assignment's policy (None: the assignment has no due date)."""
    if policy is None:
        return None
    due = policy.due
    submitted = (datetime.fromtimestamp(submission.arrived, timezone.utc).astimezone(due.tzinfo)
                 if submission.arrived else None)
    seconds = max(0.0, (submitted - due).total_seconds()) if submitted else 0.0
    source = "the time of its upload" if submitted else "its time is unknown"
    if submission.lms == "canvas":
        source = "Canvas" + (" marked it late" if submission.late else " did not mark it late")
        if not submission.late:
            seconds = 0.0
        elif not seconds:
            seconds = float(UNITS[policy.per])  # late by Canvas's word, by an unknown time: one unit
            source += " (by an unknown time: counted as one " + policy.per + ")"
    share = policy.plugin.share(seconds)
    if policy.cutoff and submitted and submitted > policy.cutoff:
        share, source = 1.0, source + f"; after the cutoff ({_when(policy.cutoff)})"
    return Lateness(submitted, due, seconds, share, source, policy.describe())


def with_lateness(score: float, late: Lateness | None) -> float:
    """The score after the late penalty."""
    return score - late.penalty(score) if late else score

