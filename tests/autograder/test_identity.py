"""Every grade lands on the right student, over a term of batches graded into one --out (issue 14).

The module fixture runs `python -m autograder grade` four times into one output folder, as an
instructor does over a term, and keeps what each run wrote; each test reads one run's outcome.
Only three different notebooks occur (right: 5/5, wrong: 3/5, blank: 0/5), so little is graded.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import nbformat
import pytest

from tests.autograder.fixtures import REFERENCE, make_course, notebook, reference, write
from tests import ROOT

from autograder import identity

CLI_LIMITS = ["--timeout", "60", "--cell-timeout", "10", "--memory-mb", "384"]
RIGHT = nbformat.writes(reference("tinyadd")).encode()
WRONG = nbformat.writes(notebook("tinyadd", {"add": "def add(a, b):\n    return a - b",
                                             "mul": REFERENCE["tinyadd"]["mul"]})).encode()
BLANK = nbformat.writes(notebook("tinyadd")).encode()
T1, T2, T3 = 1_700_000_000, 1_700_100_000, 1_700_200_000  # when the three weeks' files arrived
FUTURE = (2099, 1, 1, 0, 0, 0)
NFC, NFD = unicodedata.normalize("NFC", "김민준"), unicodedata.normalize("NFD", "김민준")


def _zip(path: Path, members: dict[str, bytes], mtime: float, dated: tuple = (2024, 5, 1, 12, 0, 0)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, dated), data)
    return write(path.read_bytes(), path, mtime)


def _week1(base: Path) -> list[Path]:
    folder = base / "week1"
    for student in ("f_solution", "dora", NFC, "zed"):
        write(RIGHT, folder / student / "tinyadd.ipynb", T1)
    write(RIGHT, folder / "dotted" / ".tinyadd.ipynb", T1)  # a dot-file: archived and reported
    write(RIGHT, folder / "copycat" / "tinyadd.txt", T1)  # rejected, with the bytes of accepted notebooks
    write(BLANK, folder / "dora" / ".ipynb_checkpoints" / "tinyadd-checkpoint.ipynb", T3)  # Jupyter's autosave
    write(b"\0\0\0\1Bud1", folder / ".DS_Store", T1)
    canvas = _zip(base / "canvas1.zip", {"victim_999_500_tinyadd.ipynb": RIGHT,
                                         "alice_100_100_tinyadd.ipynb": RIGHT}, T1)
    return [folder, canvas]


def _week2(base: Path) -> list[Path]:
    folder = base / "week2"
    # mallory's own Canvas upload is a zip holding a blank notebook named as the victim's Canvas file
    uploaded = _zip(base / "upload" / "mallory_123_101_homework.zip",
                    {"victim_999_99999999_tinyadd.ipynb": BLANK}, T2)
    canvas = _zip(base / "canvas2.zip", {"mallory_123_101_homework.zip": uploaded.read_bytes(),
                                         "alice_100_101_tinyadd.ipynb": WRONG}, T2)
    # a folder given with one student in it: mallory, whose zip holds a folder named as another student
    _zip(base / "mallory-only" / "mallory" / "hw.zip", {"f_solution/tinyadd.ipynb": BLANK}, T2, dated=FUTURE)
    write(WRONG, folder / "dora" / "tinyadd.ipynb", T2)
    write(WRONG, folder / NFD / "tinyadd.ipynb", T2)
    write(BLANK, folder / "zed\u200b" / "tinyadd.ipynb", T2)
    write(WRONG, folder / "zed." / "tinyadd.ipynb", T2)
    _zip(folder / "erin" / "old.zip", {"tinyadd.ipynb": BLANK}, T1, dated=FUTURE)  # older upload, future entry
    write(RIGHT, folder / "erin" / "tinyadd.ipynb", T2)
    write(RIGHT, folder / "gil" / "tinyadd.ipynb", T2)
    write(BLANK, folder / "gil" / "tinyadd (1).ipynb", 4_102_444_800)  # a file time in 2100
    late = write(RIGHT, base / "late" / "bob" / "colab" / "tinyadd.ipynb", T2).parents[2]
    return [canvas, folder, base / "mallory-only", late]


def _week3(base: Path) -> list[Path]:
    write(RIGHT, base / "week3" / "dora" / "tinyadd.ipynb", T3)  # dora goes back to her first version
    canvas = _zip(base / "canvas3.zip", {"alice_100_102_tinyadd.ipynb": RIGHT}, T3)  # and so does alice
    for name in ("ann_300_1_tinyadd.ipynb", "ben_301_2_tinyadd.ipynb"):  # a Canvas download one folder too deep
        write(RIGHT, base / "downloads" / "hw1" / name, T3)
    return [base / "week3", canvas, base / "downloads"]


def _grade(paths: list[Path], out: Path, course: Path) -> dict:
    command = [sys.executable, "-m", "autograder", "--course", str(course), "grade", *map(str, paths),
               "--out", str(out), "--workers", "1", *CLI_LIMITS]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    feedback = out / "feedback"
    return {"returncode": result.returncode, "stdout": result.stdout, "stderr": result.stderr,
            "rows": json.loads((out / "grades.json").read_text(encoding="utf-8"))["submissions"]
            if (out / "grades.json").exists() else [],
            "csv": list(csv.reader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8"))))
            if (out / "grades.csv").exists() else [],
            "manifest": (out / "archive" / "manifest.jsonl").read_text(encoding="utf-8"),
            "pages": {str(page.relative_to(feedback)): page.read_text(encoding="utf-8")
                      for page in sorted(feedback.rglob("*.html"))} if feedback.exists() else {}}


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    base = tmp_path_factory.mktemp("term")
    course = make_course(base / "course")
    out = base / "out"
    weeks = [_week1(base / "in"), _week2(base / "in"), _week3(base / "in")]
    runs = [_grade(paths, out, course) for paths in weeks]
    runs.append(_grade(weeks[2], out, course))  # the third batch again, unchanged
    return {"runs": runs, "out": out}


def run(term, number: int) -> dict:
    """What the run `number` (1-4) wrote, after checking that it succeeded."""
    outcome = term["runs"][number - 1]
    assert outcome["returncode"] == 0, f"run {number} failed:\n{outcome['stdout']}\n{outcome['stderr'][-3000:]}"
    return outcome


def score(outcome: dict, student: str) -> tuple[float | None, str]:
    """The counted row of a student's tinyadd: (score, source)."""
    rows = [row for row in outcome["rows"] if row["student"] == student and row["status"] != "rejected"]
    assert len(rows) == 1, f"expected one counted row for {student!r}, got {rows}"
    return rows[0]["score"], rows[0]["source"]


def test_a_name_inside_a_canvas_upload_does_not_replace_another_students_grade(term):
    for number in (2, 3):
        points, source = score(run(term, number), "999")
        assert points == 5 and source.endswith("canvas1.zip:victim_999_500_tinyadd.ipynb"), (
            f"after run {number}, user 999 lost their own submission to a file inside user 123's upload: {source}")


def test_a_file_inside_an_upload_is_graded_for_its_uploader(term):
    points, source = score(run(term, 2), "123")
    assert points == 0 and "mallory_123_101_homework.zip:victim_999" in source, (points, source)


def test_canvas_csv_row_of_the_victim_keeps_their_score(term):
    lines = {line[1]: line for line in run(term, 2)["csv"][2:]}
    assert lines["999"][5] == "5" and lines["123"][5] == "0", lines


def test_a_folder_inside_a_students_zip_is_not_a_student(term):
    outcome = run(term, 2)
    points, source = score(outcome, "f_solution")
    assert points == 5 and "week1" in source, f"student f_solution's grade changed to {points} from {source}"
    points, source = score(outcome, "mallory")
    assert points == 0 and source.endswith("mallory/hw.zip:f_solution/tinyadd.ipynb"), (points, source)


def test_the_folder_given_holds_the_students_and_nothing_is_stripped(term):
    outcome = run(term, 2)
    assert score(outcome, "bob")[0] == 5, "late/bob/colab/... belongs to bob"
    assert not [row for row in outcome["rows"] if row["student"] == "colab"], "a sub-folder became a student"


def test_the_summary_says_which_single_folder_was_taken_as_a_student(term):
    stdout = run(term, 2)["stdout"]
    assert "holds one folder, 'bob', with sub-folders" in stdout, stdout


def test_the_summary_warns_of_a_student_folder_holding_several_canvas_users(term):
    stdout = run(term, 3)["stdout"]
    assert "the folder 'hw1' holds the Canvas files of 2 different users" in stdout, stdout


def test_going_back_to_an_earlier_canvas_upload_counts(term):
    assert score(run(term, 2), "100")[0] == 3, "the second Canvas upload (submission 101) counts in week 2"
    points, source = score(run(term, 3), "100")
    assert points == 5 and source.endswith("alice_100_102_tinyadd.ipynb"), (
        f"submission 102 (the bytes of 100 again) must count, not {source}")


def test_going_back_to_an_earlier_file_counts(term):
    assert score(run(term, 2), "dora")[0] == 3, "dora's second file counts in week 2"
    points, source = score(run(term, 3), "dora")
    assert points == 5 and "week3" in source, f"dora's third file (her first one again) must count, not {source}"


def test_a_zip_entry_time_never_outranks_when_the_zip_arrived(term):
    points, source = score(run(term, 2), "erin")
    assert points == 5 and source.endswith("erin/tinyadd.ipynb"), (
        f"the entry dated 2099 in erin's older zip beat her later notebook: {source}")


def test_a_file_time_in_the_future_is_not_believed(term):
    points, source = score(run(term, 2), "gil")
    assert points == 5 and source.endswith("gil/tinyadd.ipynb"), f"a file dated 2100 counted as the latest: {source}"


def test_a_name_in_nfc_and_in_nfd_is_one_student(term):
    outcome = run(term, 2)
    keys = {row["student"] for row in outcome["rows"] if row["student"]
            and unicodedata.normalize("NFC", row["student"]) == NFC}
    assert keys == {NFC}, f"김민준 must be one student, written in NFC: {[ascii(key) for key in keys]}"
    assert score(outcome, NFC)[0] == 3, "the later (NFD-named) upload counts for the one student"
    assert [page for page in outcome["pages"] if NFC in unicodedata.normalize("NFC", page)] == [
        f"{NFC}/tinyadd.html"], outcome["pages"].keys()


def test_an_id_with_an_invisible_character_is_rejected_with_the_reason(term):
    outcome = run(term, 2)
    [row] = [row for row in outcome["rows"] if "zed\u200b" in row["source"]]
    assert row["status"] == "rejected" and row["student"] is None, row
    assert "U+200B ZERO WIDTH SPACE" in row["error"] and "Rename the student's folder" in row["error"], row["error"]
    assert score(outcome, "zed")[0] == 5, "the real zed keeps his grade"


def test_look_alike_ids_are_kept_apart_and_reported(term):
    outcome = run(term, 2)
    assert score(outcome, "zed")[0] == 5 and score(outcome, "zed.")[0] == 3, "two students, two grades"
    assert "'zed', 'zed.' look alike" in outcome["stdout"], outcome["stdout"]


def test_look_alike_ids_get_a_feedback_page_each(term):
    outcome = run(term, 2)
    titles = sorted(text.split("<title>")[1].split("</title>")[0] for page, text in outcome["pages"].items()
                    if page.startswith("zed"))
    assert titles == ["tinyadd: feedback for zed", "tinyadd: feedback for zed."], (
        f"one page overwrote the other: {titles}")


def test_a_rejected_file_with_an_accepted_notebooks_bytes_gets_a_row(term):
    rows = [row for row in run(term, 1)["rows"] if row["source"].endswith("copycat/tinyadd.txt")]
    assert len(rows) == 1 and rows[0]["status"] == "rejected" and "not a Jupyter notebook" in rows[0]["error"], rows


def test_a_hidden_file_is_archived_and_reported(term):
    outcome = run(term, 1)
    rows = [row for row in outcome["rows"] if row["source"].endswith("dotted/.tinyadd.ipynb")]
    assert len(rows) == 1 and rows[0]["status"] == "rejected" and "hidden file" in rows[0]["error"], rows
    assert rows[0]["student"] == "dotted" and "resubmit" in rows[0]["error"], rows[0]


def test_files_tools_leave_behind_are_archived_noted_and_never_graded(term):
    outcome = run(term, 1)
    assert "tinyadd-checkpoint.ipynb" in outcome["manifest"], "Jupyter's checkpoint was not archived"
    assert "operating systems and tools leave behind" in outcome["stdout"], outcome["stdout"]
    assert score(outcome, "dora")[0] == 5, "Jupyter's (later) checkpoint replaced dora's notebook"


def test_rerunning_a_batch_archives_and_changes_nothing(term):
    third, fourth = run(term, 3), run(term, 4)
    assert fourth["manifest"] == third["manifest"], "the same inputs again were archived as new uploads"
    assert fourth["rows"] == third["rows"], "the same inputs again changed grades.json"
    assert "0 graded now" in fourth["stdout"], fourth["stdout"]


def test_feedback_folder_names_of_look_alike_ids_never_collide():
    students = ["zed", "Zed", "zed.", "ｚｅｄ", "bob", "김민준"]
    names = identity.folder_names(students)
    assert len({name.casefold() for name in names.values()}) == len(students), names
    assert names["bob"] == "bob" and names["김민준"] == "김민준", f"ids without a look-alike keep their name: {names}"
