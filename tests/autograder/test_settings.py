"""grading.toml (settings.py): one file for a course's settings; the command line's flags win over it."""

from __future__ import annotations

import pytest

from autograder import cli
from autograder import grade as grading
from autograder.course import Course
from autograder.grade import Outcome
from autograder.model import UsageError
from autograder.sandbox import tiers
from autograder.settings import GradeOptions, Settings
from tests.autograder.fixtures import make_course


@pytest.fixture
def calls(monkeypatch, tmp_path):
    """What `grade` would be called with by the CLI (no grading)."""
    seen = []

    def fake(paths, out, **options):
        seen.append(options)
        return Outcome(out, [])

    monkeypatch.setattr(grading, "grade", fake)
    monkeypatch.setattr(tiers, "choose", lambda unsafe: tiers.Tier.BWRAP)
    return seen


def _course(tmp_path, toml: str) -> str:
    root = make_course(tmp_path / "course")
    (root / "grading.toml").write_text(toml, encoding="utf-8")
    return str(root)


def test_a_flag_wins_over_grading_toml_which_wins_over_the_default(tmp_path, calls):
    course = _course(tmp_path, "[grade]\nworkers = 3\ntimeout = 77\ncsv_bom = true\n")
    out = str(tmp_path / "out")
    assert cli.main(["--course", course, "grade", str(tmp_path), "--out", out, "--timeout", "55"]) == 0
    assert cli.main(["--course", course, "grade", str(tmp_path), "--out", out, "--workers", "1", "--no-csv-bom"]) == 0
    first, second = calls
    assert (first["workers"], first["limits"].notebook_seconds, first["csv_bom"]) == (3, 55, True)
    assert first["limits"].cell_seconds == GradeOptions().cell_timeout, "unset everywhere: the built-in default"
    assert (second["workers"], second["limits"].notebook_seconds, second["csv_bom"]) == (1, 77, False)


@pytest.mark.parametrize("toml, fix", [
    ("[grade]\nworkers = 0\n", "whole number of at least 1"), ("[grade]\ntimeout = '60'\n", "whole number"),
    ("[grade]\ncsv_bom = 1\n", "true or false"), ("[grade]\nthreads = 2\n", "no setting threads"),
    ("grade = 3\n", "must be a table"), ("[assignments.tinyadd]\ncanvas_id = 'x'\n", "Canvas address"),
    ("assignments = 2\n", "must be tables")])
def test_a_bad_setting_stops_the_run_naming_the_file_and_the_fix(tmp_path, calls, capsys, toml, fix):
    course = _course(tmp_path, toml)
    assert cli.main(["--course", course, "grade", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "grading.toml" in error and fix in error, error
    assert not calls, "nothing may be graded under a setting that cannot be read"
    with pytest.raises(UsageError):
        Settings.read(Course(tmp_path / "course"))


def test_a_course_without_grading_toml_has_every_default(tmp_path):
    assert Settings.read(Course(make_course(tmp_path / "course"))) == Settings()


def test_help_says_which_wins(capsys):
    with pytest.raises(SystemExit):
        cli.main(["grade", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "grading.toml's [grade] workers, else 1" in text and "an option given here wins" in text
