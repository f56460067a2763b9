"""A simulated term (issue 18): three due dates and late policies in grading.toml, on-time, late, very late and
Canvas-marked submissions, a TA's override, two students with the same file, a pair whose code is one
program with renamed variables and a student with a wrong answer, graded by the CLI twice; the class
report opened in Chromium."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from tests import CHROMIUM, ROOT, SCREENSHOTS, chromium_page
from tests.autograder.fixtures import REFERENCE, TERM_SETTINGS, make_course, notebook, write

KST = timezone(timedelta(hours=9))
ADD_DUE = datetime(2026, 10, 1, 23, 59, tzinfo=KST)
SUB_DUE = datetime(2026, 10, 8, 23, 59, tzinfo=KST)
NEG_DUE = datetime(2026, 10, 15, 23, 59, tzinfo=KST)
NEG_LATE = {"ann": timedelta(minutes=-10), "ben": timedelta(days=1, hours=2), "gus": timedelta(days=5)}
LATE = {"ann": timedelta(hours=-5), "ben": timedelta(days=1, hours=12), "cho": timedelta(days=10),
        "김민수": timedelta(days=3), "dan": timedelta(hours=-1), "eve": timedelta(hours=-2), "fay": timedelta(hours=-3),
        "gus": timedelta(hours=-4)}
# ann's own program, long enough to judge, and fay's copy of it: new names, new comments, the same code
ANN = {"add": """def add(a, b):
    # whole numbers only, summed one by one
    total = 0
    for value in (a, b):
        if not isinstance(value, int):
            raise TypeError(f"add() takes whole numbers, not {type(value).__name__}")
        total += value
    return total""",
       "mul": """def mul(a, b):
    result = 0
    for _ in range(abs(b)):
        result = add(result, a)
    return result if b >= 0 else -result"""}
FAY = {"add": ANN["add"].replace("total", "s").replace("value", "x").replace("summed one by one", "my own loop"),
       "mul": ANN["mul"].replace("result", "acc").replace("_", "i")}


def _own(assignment: str, student: str):
    """Correct answers with the student's own comment (their own bytes)."""
    return notebook(assignment, {task: f"# {student}\n{source}" for task, source in REFERENCE[assignment].items()})


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    base = tmp_path_factory.mktemp("term")
    course = make_course(base / "course", ("tinyadd", "tinysub", "tinyneg"))
    (course / "grading.toml").write_text(TERM_SETTINGS, encoding="utf-8")
    folders, canvas = base / "in" / "folders", base / "in" / "canvas"
    for student, after in LATE.items():
        nb = {"dan": notebook("tinyadd", REFERENCE["tinyadd"]), "eve": notebook("tinyadd", REFERENCE["tinyadd"]),
              "ann": notebook("tinyadd", ANN), "fay": notebook("tinyadd", FAY),
              "gus": notebook("tinyadd", {**REFERENCE["tinyadd"], "mul": "def mul(a, b):\n    return a + b"}),
              }.get(student) or _own("tinyadd", student)
        write(nb, folders / student / "tinyadd.ipynb", mtime=(ADD_DUE + after).timestamp())
    write(_own("tinysub", "ann"), folders / "ann" / "tinysub.ipynb", mtime=(SUB_DUE - timedelta(days=1)).timestamp())
    for student, after in NEG_LATE.items():
        write(_own("tinyneg", student), folders / student / "tinyneg.ipynb", mtime=(NEG_DUE + after).timestamp())
    # Canvas marks 777's upload late, though the file's time says before the due date; 778's is on time
    write(_own("tinysub", "777"), canvas / "lee_LATE_777_9001_tinysub.ipynb",
          mtime=(SUB_DUE - timedelta(hours=3)).timestamp())
    write(_own("tinysub", "778"), canvas / "park_778_9002_tinysub.ipynb",
          mtime=(SUB_DUE + timedelta(days=2)).timestamp())
    out = base / "out"
    out.mkdir()
    (out / "overrides.csv").write_text("student,assignment,task,points,by,comment\n"
                                       "김민수,tinyadd,total,5,Prof. Choi,병가: late work accepted\n", encoding="utf-8")
    command = [sys.executable, "-m", "autograder", "--course", str(course), "grade", str(folders), str(canvas),
               "--out", str(out), "--workers", "2"]  # the limits: grading.toml's [grade]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    outputs = {path.relative_to(out): path.read_bytes() for path in (out / "grades.json", out / "grades.csv",
                                                                  out / "report.json", out / "report.html",
                                                                  out / "canvas-feedback" / "tinysub.zip",
                                                                  *(out / "report").glob("*.png"))}
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    regraded = subprocess.run([*command, "--regrade", "ann", "--verbose"], cwd=ROOT, capture_output=True, text=True,
                              timeout=600)
    return {"out": out, "first": outputs, "again": again, "regraded": regraded,
            "rows": {(row["student"], row["assignment"]): row
                     for row in json.loads((out / "grades.json").read_text(encoding="utf-8"))["submissions"]}}


def test_scores_follow_the_policy(term):
    scores = {key: row["score"] for key, row in term["rows"].items()}
    assert scores == {("ann", "tinyadd"): 5, ("ben", "tinyadd"): 4, ("cho", "tinyadd"): 0, ("김민수", "tinyadd"): 5,
                      ("dan", "tinyadd"): 5, ("eve", "tinyadd"): 5, ("fay", "tinyadd"): 5, ("gus", "tinyadd"): 2,
                      ("ann", "tinysub"): 1, ("777", "tinysub"): 0.95,
                      ("778", "tinysub"): 1, ("ann", "tinyneg"): 1, ("ben", "tinyneg"): 0.5, ("gus", "tinyneg"): 0}


def test_grades_json_keeps_when_each_came_and_what_it_cost(term):
    rows = term["rows"]
    ben = rows["ben", "tinyadd"]
    assert ben["submitted_at"] == (ADD_DUE + LATE["ben"]).astimezone(timezone.utc).isoformat()
    assert ben["late"]["seconds_late"] == LATE["ben"].total_seconds() and ben["late"]["percent"] == 20
    assert ben["late"]["penalty"] == 1 and ben["late"]["due"] == ADD_DUE.isoformat()
    assert rows["ann", "tinyadd"]["late"]["seconds_late"] == 0 and rows["ann", "tinyadd"]["late"]["penalty"] == 0
    cho = rows["cho", "tinyadd"]["late"]
    assert cho["percent"] == 100 and "after the cutoff" in cho["source"]
    assert "counted as one hour" in rows["777", "tinysub"]["late"]["source"]
    assert rows["778", "tinysub"]["late"]["penalty"] == 0, "Canvas did not mark 778 late: its file time must not count"
    kim = rows["김민수", "tinyadd"]
    assert kim["late"]["percent"] == 30 and kim["overrides"][0]["before"] == 3.5 and kim["score"] == 5


def test_the_csv_has_the_penalised_scores_under_canvas_column_names_with_a_bom(term):
    data = (term["out"] / "grades.csv").read_bytes()
    assert data.startswith("\ufeffStudent,".encode()), "grading.toml's csv_bom = true: a UTF-8 BOM for Excel"
    lines = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(lines[0])[5:] == ["tinyadd", "tinyneg", "tinysub (9100)"], "canvas_id names the column as Canvas does"
    by_login = {line["SIS Login ID"] or line["ID"]: line for line in lines[1:]}
    assert by_login["ben"]["tinyadd"] == "4" and by_login["cho"]["tinyadd"] == "0"
    assert by_login["777"]["tinysub (9100)"] == "0.95" and by_login["김민수"]["tinyadd"] == "5"
    assert (by_login["ann"]["tinyneg"], by_login["ben"]["tinyneg"], by_login["gus"]["tinyneg"]) == ("1", "0.5", "0")


def test_the_feedback_page_says_how_late_and_what_it_cost(term):
    page = (term["out"] / "feedback" / "ben" / "tinyadd.html").read_text(encoding="utf-8")
    assert "Score: 4 / 5" in page and "1 day(s) 12 hour(s) after the due date (2026-10-01 23:59 UTC+09:00)" in page
    assert "1 point(s) taken (20%)" in page
    on_time = (term["out"] / "feedback" / "ann" / "tinyadd.html").read_text(encoding="utf-8")
    assert "on time (due 2026-10-01 23:59 UTC+09:00)" in on_time
    excused = (term["out"] / "feedback" / "김민수" / "tinyadd.html").read_text(encoding="utf-8")
    assert "Total: 3.5 → 5 points, by Prof. Choi: 병가: late work accepted" in excused


def test_identical_files_are_flagged_and_scores_unchanged(term):
    rows = term["rows"]
    assert any("integrity: the same file, byte for byte, as the submission of eve" in flag
               for flag in rows["dan", "tinyadd"]["flags"])
    assert not any(flag.startswith("integrity: the same file") for flag in rows["ann", "tinyadd"]["flags"])


def test_nbgraders_gradebook_has_the_due_date_the_time_and_the_penalty(term):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{term['out'] / 'gradebook.db'}") as gradebook:
        assert gradebook.find_assignment("tinyadd").duedate == ADD_DUE.astimezone(timezone.utc).replace(tzinfo=None)
        ben = gradebook.find_submission("tinyadd", "ben")
        assert ben.total_seconds_late == LATE["ben"].total_seconds()
        assert gradebook.find_submission_notebook("tinyadd", "tinyadd", "ben").late_submission_penalty == 1


def test_canvas_students_feedback_is_packed_for_canvas_re_upload(term):
    import zipfile

    with zipfile.ZipFile(term["out"] / "canvas-feedback" / "tinysub.zip") as bundle:
        names = bundle.namelist()
        assert names == ["lee_777_9001_tinysub-feedback.html", "park_778_9002_tinysub-feedback.html"]
        assert "Score: 0.95 / 1" in bundle.read(names[0]).decode("utf-8")
    assert not (term["out"] / "canvas-feedback" / "tinyadd.zip").exists(), "tinyadd has no Canvas student"


def test_regrade_grades_one_students_work_again_and_the_log_says_what_each_run_did(term):
    regraded = term["regraded"]
    assert regraded.returncode == 0 and "3 graded now" in regraded.stdout, regraded.stdout + regraded.stderr
    assert "submissions ann (tinyneg)" in regraded.stderr, "--verbose writes the log to stderr"
    log = (term["out"] / "grade.log").read_text(encoding="utf-8")
    assert log.count(" INFO grade ") == 3 and "submissions ben (tinyadd)" in log and "9 reused" not in log


def test_a_rerun_changes_nothing(term):
    again = term["again"]
    assert again.returncode == 0 and "0 graded now" in again.stdout, again.stdout + again.stderr
    for name, before in term["first"].items():
        assert (term["out"] / name).read_bytes() == before, f"a rerun changed {name}"


def test_a_copy_with_renamed_variables_is_flagged_and_scores_unchanged(term):
    rows = term["rows"]
    ann, fay = rows["ann", "tinyadd"], rows["fay", "tinyadd"]
    assert any(flag.startswith("integrity: answer code like fay's") for flag in ann["flags"]), ann["flags"]
    assert any(flag.startswith("integrity: answer code like ann's") for flag in fay["flags"]), fay["flags"]
    assert ann["score"] == fay["score"] == 5
    short = [key for key, row in rows.items() if key[0] not in ("ann", "fay")
             and any("answer code like" in flag for flag in row["flags"])]
    assert not short, f"answers too short to judge were flagged: {short}"


def test_the_report_has_the_class_figures_as_data(term):
    report = json.loads((term["out"] / "report.json").read_text(encoding="utf-8"))
    add = next(entry for entry in report["assignments"] if entry["name"] == "tinyadd")
    assert add["students"] == 8 and sorted(add["scores"]) == [0, 2, 4, 5, 5, 5, 5, 5]
    rates = {task["name"]: task["pass_rate"] for task in add["tasks"]}
    assert rates == {"tinyadd-add": 1, "tinyadd-mul": 7 / 8}
    assert add["failures"] == [{"task": "tinyadd-mul", "title": "tinyadd-mul", "count": 1,
                                "message": "AssertionError: mul(2, 3) should be 6: did you return a * b?"}]
    assert {(entry["student"], entry["assignment"]) for entry in report["late"]} == {
        ("ben", "tinyadd"), ("cho", "tinyadd"), ("김민수", "tinyadd"), ("777", "tinysub"), ("ben", "tinyneg"),
        ("gus", "tinyneg")}
    flagged = {entry["flag"].split(" (")[0]: entry["students"] for entry in report["flags"]}
    assert flagged["integrity: the same file, byte for byte, as the submission of eve"] == ["dan"]
    assert [pair["students"] for pair in report["similar"]] == [["ann", "fay"]]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/install installs it)")
def test_the_report_shows_its_plots_in_chromium(term):
    with chromium_page(1300, 900) as page:
        page.goto((term["out"] / "report.html").as_uri())
        images = page.locator("img")
        assert images.count() == 3, page.content()[:2000]
        for index in range(images.count()):
            images.nth(index).scroll_into_view_if_needed()
            loaded = images.nth(index).evaluate("image => image.complete && image.naturalWidth > 0")
            assert loaded, f"{images.nth(index).get_attribute('src')} did not load"
        assert page.locator("mark").count() >= 2, "the alike pair's shared code is not highlighted"
        assert "김민수" in page.inner_text("body")
        page.screenshot(path=SCREENSHOTS / "class-report.png", full_page=True)
