"""Due dates and late work (late.py): the policy of grading.toml, a submission's lateness and its penalty."""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta, timezone

import pytest

from autograder.late import PercentPerUnit, PolicyError, assess, policies, with_lateness
from autograder.model import Submission
from tests.autograder.fixtures import TERM_SETTINGS

KST = timezone(timedelta(hours=9))
DUE = datetime(2026, 10, 1, 23, 59, tzinfo=KST)
SETTINGS = {**tomllib.loads(TERM_SETTINGS), "assignments": {**tomllib.loads(TERM_SETTINGS)["assignments"],
                                                  "ungraded": {"canvas_id": 3}}}  # no due date: no policy


def _came(after: timedelta | None, **fields) -> Submission:
    arrived = (DUE + after).timestamp() if after is not None else None
    return Submission("1", "0" * 64, "tinyadd.ipynb", "in/kim/tinyadd.ipynb", "kim", arrived=arrived, **fields)


def test_each_assignment_with_a_due_date_gets_its_policy():
    found = policies(SETTINGS)
    assert sorted(found) == ["tinyadd", "tinyneg", "tinysub"]
    assert (found["tinyadd"].due, found["tinyadd"].percent, found["tinyadd"].per) == (DUE, 10, "day")
    assert (found["tinysub"].percent, found["tinysub"].per, found["tinysub"].max_percent) == (5, "hour", 50)


@pytest.mark.parametrize("after, share", [(timedelta(hours=-1), 0.0), (timedelta(0), 0.0), (timedelta(minutes=1), 0.1),
                                          (timedelta(days=1), 0.1), (timedelta(days=1, seconds=1), 0.2),
                                          (timedelta(days=6, hours=5), 0.5), (timedelta(days=8), 1.0)])
def test_the_penalty_grows_per_started_day_up_to_its_cap_and_the_cutoff_takes_all(after, share):
    lateness = assess(policies(SETTINGS)["tinyadd"], _came(after))
    assert lateness.share == pytest.approx(share) and with_lateness(4.0, lateness) == pytest.approx(4.0 * (1 - share))
    assert lateness.seconds == max(0.0, after.total_seconds())


def test_the_plugin_follows_nbgraders_interface():
    plugin = PercentPerUnit(percent=5, per="hour", max_percent=50)
    assert plugin.late_submission_penalty("kim", 10.0, 0) is None
    assert plugin.late_submission_penalty("kim", 10.0, 3_601) == pytest.approx(1.0)  # two started hours: 10%
    assert plugin.late_submission_penalty("kim", 10.0, 86_400) == pytest.approx(5.0)  # capped at 50%


def test_canvas_decides_whether_its_submissions_are_late():
    policy = policies(SETTINGS)["tinyadd"]
    marked = assess(policy, _came(timedelta(hours=-2), lms="canvas", late=True))
    assert marked.share == pytest.approx(0.1) and "counted as one day" in marked.source
    unmarked = assess(policy, _came(timedelta(days=3), lms="canvas", late=False))
    assert unmarked.share == 0 and unmarked.seconds == 0 and "did not mark it late" in unmarked.source
    timed = assess(policy, _came(timedelta(days=2, hours=1), lms="canvas", late=True))
    assert timed.share == pytest.approx(0.3)


def test_a_submission_without_a_known_time_is_not_penalised_and_says_so():
    lateness = assess(policies(SETTINGS)["tinyadd"], _came(None))
    assert lateness.share == 0 and lateness.submitted is None
    assert "time of this submission is unknown, so no late penalty" in lateness.describe(4.0)
    assert assess(None, _came(timedelta(days=3))) is None  # no due date: no lateness at all


def test_the_feedback_says_how_late_and_what_it_cost():
    text = assess(policies(SETTINGS)["tinyadd"], _came(timedelta(days=1, hours=3))).describe(4.0)
    assert "1 day(s) 3 hour(s) after the due date (2026-10-01 23:59 UTC+09:00)" in text
    assert "0.8 point(s) taken (20%)" in text and "10% of the points earned per started day late, at most 50%" in text


@pytest.mark.parametrize("toml, message", [
    ("[assignments.a]\ndue = 2026-10-01T23:59:00", "has no time zone; add it, e.g. 2026-10-01T23:59:00+09:00"),
    ("[assignments.a]\ndue = 'next friday'", "is not a date and time; write it like 2026-10-01T23:59:00+09:00"),
    ("[late]\nper = 'week'\n[assignments.a]\ndue = 2026-10-01T23:59:00Z", "per = 'week'; write \"day\" or \"hour\""),
    ("[late]\npercent = -5\n[assignments.a]\ndue = 2026-10-01T23:59:00Z", "numbers of 0 or more"),
    ("[assignments.a]\ndue = 2026-10-01T23:59:00Z\nlate = { penalty = 5 }", "unknown late setting(s) penalty"),
])
def test_a_policy_that_cannot_be_used_says_what_to_write(toml, message):
    with pytest.raises(PolicyError, match="grading.toml, \\[assignments.a\\]") as raised:
        policies(tomllib.loads(toml))
    assert message in str(raised.value)
