"""One realistic mixed batch, graded once: good, wrong, blank, malformed, hostile and renamed submissions.

Every test below reads the same grading run (a module fixture), so the suite grades each notebook once.
The notebooks are tiny (no TensorFlow); tests/exercises/test_grades.py grades the real exercises.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from copy import deepcopy
from pathlib import Path

import pytest

from tests.autograder.fixtures import HIDDEN_MARK, REFERENCE, make_course, notebook, reference, write
from tests import ROOT

from autograder.course import Course
from autograder.grade import grade
from autograder.limits import Limits
from autograder.results import NOT_ANSWERED

LIMITS = Limits(notebook_seconds=60, cell_seconds=10, memory_mb=384, file_mb=1)
CLI_LIMITS = ["--timeout", "60", "--cell-timeout", "10", "--memory-mb", "384", "--max-file-mb", "1"]
OLD, NEW = 1_700_000_000, 1_700_100_000  # modification times of a student's two submissions
FILED = 1_700_200_000  # the modification time of every other file given
ADD, MUL = REFERENCE["tinyadd"]["add"], REFERENCE["tinyadd"]["mul"]


def _nb_bytes(nb) -> bytes:
    import nbformat

    return nbformat.writes(nb).encode("utf-8")


def _without_test(nb, grade_id):
    nb.cells = [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return nb


def _duplicated_test(nb, grade_id):
    cell = next(cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    copy = deepcopy(cell)
    copy.id = "copied-cell"  # a copied cell gets a new id and keeps the original's grading data
    nb.cells.append(copy)
    return nb


def _zip(path: Path, members: dict[str, bytes], *, encrypted: tuple = (), symlinks: tuple = ()) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, (2024, 5, 1, 12, 0, 0))
            if name in symlinks:
                info.external_attr = 0o120777 << 16
            archive.writestr(info, data)
    if encrypted:  # zipfile cannot write passwords: set the "encrypted" flag bit in both headers
        raw = bytearray(path.read_bytes())
        with zipfile.ZipFile(path) as archive:
            offsets = [archive.getinfo(name).header_offset for name in encrypted]
        for offset in offsets:
            raw[offset + 6] |= 0x1
        start = raw.find(b"PK\x01\x02")
        while start != -1:
            size = int.from_bytes(raw[start + 28:start + 30], "little")
            if raw[start + 46:start + 46 + size].decode() in encrypted:
                raw[start + 8] |= 0x1
            start = raw.find(b"PK\x01\x02", start + 4)
        path.write_bytes(bytes(raw))
    return path


def _cp949_zip(path: Path, name: str, data: bytes) -> Path:
    """A zip whose member name is stored in CP949 without the UTF-8 flag (as Korean Windows tools do)."""
    encoded = name.encode("cp949")
    placeholder = "X" * len(encoded)
    _zip(path, {placeholder: data})
    path.write_bytes(path.read_bytes().replace(placeholder.encode(), encoded))
    return path


# Each malformed input: (student folder, file name, bytes or a maker, what the reason must say).
BAD_CASES = {
    "not_json": ("bad-notjson", "tinyadd.ipynb", b"print('my answer')\n", "not JSON"),
    "truncated_json": ("bad-truncated", "tinyadd.ipynb", lambda: _nb_bytes(reference("tinyadd"))[:300], "cut off"),
    "empty_file": ("bad-empty", "tinyadd.ipynb", b"", "is empty"),
    "binary_file": ("bad-binary", "tinyadd.ipynb", bytes(range(256)) * 4, "binary file"),
    "nbformat_3": ("bad-v3", "tinyadd.ipynb",
                   json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}).encode(),
                   "notebook format 3"),
    "wrong_kernel_language": ("bad-rkernel", "tinyadd.ipynb", "r_kernel", "for the R language"),
    "no_graded_cells": ("bad-nocells", "tinyadd.ipynb", "plain", "has no graded cells"),
    "graded_cell_deleted": ("bad-deleted", "tinyadd.ipynb", "deleted", "missing the test cell tinyadd-mul"),
    "graded_cell_duplicated": ("bad-duplicated", "tinyadd.ipynb", "duplicated", "'tinyadd-add' more than once"),
    "file_too_large": ("bad-large", "tinyadd.ipynb", "large", "over the 1 MB limit"),
    "not_a_notebook": ("bad-pdf", "tinyadd.pdf", b"%PDF-1.4 my answers", "not a Jupyter notebook (.pdf)"),
    "symlink_in_folder": ("bad-symlink", "tinyadd.ipynb", "symlink", "symbolic link"),
    "no_student_folder": ("", "loose.ipynb", lambda: _nb_bytes(reference("tinyadd")), "cannot be matched to a student"),
    "zip_corrupt": ("zips", "corrupt.zip", b"PK\x03\x04 this is not really a zip", "not a readable zip"),
    "zip_truncated": ("zips", "truncated.zip", "truncated_zip", "not a readable zip"),
    "zip_dotdot_entry": ("zips", "evil.zip", "evil_zip", "'..' that points outside the zip"),
    "zip_absolute_entry": ("zips", "evil.zip", "evil_zip", "absolute path"),
    "zip_symlink_entry": ("zips", "evil.zip", "evil_zip", "symbolic link inside evil.zip"),
    "zip_encrypted_entry": ("zips", "evil.zip", "evil_zip", "encrypted"),
}
# the member of evil.zip that each zip case is about
EVIL_MEMBERS = {"zip_dotdot_entry": "../escape.ipynb", "zip_absolute_entry": "/etc/abs.ipynb",
                "zip_symlink_entry": "mallet/link.ipynb", "zip_encrypted_entry": "mallet/secret.ipynb"}


def _bad_bytes(kind, tmp: Path) -> bytes | None:
    if isinstance(kind, bytes):
        return kind
    if callable(kind):
        return kind()
    nb = reference("tinyadd")
    if kind == "r_kernel":
        nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
        nb.metadata["language_info"] = {"name": "R"}
    elif kind == "plain":
        for cell in nb.cells:
            cell.metadata.pop("nbgrader", None)
    elif kind == "deleted":
        nb = _without_test(nb, "tinyadd-mul")
    elif kind == "duplicated":
        nb = _duplicated_test(nb, "tinyadd-add")
    elif kind == "large":
        import nbformat

        nb.cells.append(nbformat.v4.new_markdown_cell("x" * (1_300_000), id="large-cell"))
    else:
        return None
    return _nb_bytes(nb)


def build_inputs(base: Path) -> tuple[Path, list[Path]]:
    """The mixed folder of student sub-folders, plus zips given alongside it."""
    subs = base / "subs"
    write(reference("tinyadd"), subs / "alice" / "Copy of tinyadd.ipynb")
    write(notebook("tinyadd", {"add": "def add(a, b):\n    return a - b", "mul": MUL}), subs / "bob" / "tinyadd (1).ipynb")
    write(notebook("tinyadd"), subs / "carol" / "tinyadd.ipynb")
    write(notebook("tinyadd", {"add": "def add(a, b):\n    return 0", "mul": MUL}), subs / "dave" / "tinyadd.ipynb",
          mtime=OLD)
    write(reference("tinyadd"), subs / "dave" / "tinyadd (1).ipynb", mtime=NEW)
    write(reference("tinyadd"), subs / "김민수" / "과제 tinyadd.ipynb")
    write(reference("tinysub"), subs / "erin" / "tinysub.ipynb")
    hostile = ("print('<script>alert(1)</script>')\n"
               "def add(a, b):\n    raise ValueError('<img src=x onerror=alert(1)>')")
    exfiltrate = ("def mul(a, b):\n    import inspect, linecache\n"
                  "    caller = inspect.currentframe().f_back.f_code.co_filename\n"
                  "    raise ValueError(''.join(linecache.getlines(caller)))")
    write(notebook("tinyadd", {"add": hostile, "mul": exfiltrate}), subs / "mallory" / "tinyadd.ipynb")
    write(notebook("tinyadd", {"add": "while True:\n    pass", "mul": MUL}), subs / "looper" / "tinyadd.ipynb")
    write(notebook("tinyadd", {"add": "hog = []\nwhile True:\n    hog.append(bytearray(50 * 2**20))", "mul": MUL}),
          subs / "hogger" / "tinyadd.ipynb")
    write(notebook("tinyadd", {"add": "import os\nos._exit(1)", "mul": MUL}), subs / "quitter" / "tinyadd.ipynb")
    zips = base / "zips"
    zips.mkdir(parents=True)
    for case, (folder, name, kind, _) in BAD_CASES.items():
        if folder == "zips":
            continue
        if kind == "symlink":
            (subs / folder).mkdir(parents=True)
            os.symlink(subs / "alice" / "Copy of tinyadd.ipynb", subs / folder / name)
        else:
            write(_bad_bytes(kind, base), subs / folder / name if folder else subs / name)
    good = _nb_bytes(reference("tinyadd"))
    _zip(zips / "student.zip", {"zed/tinyadd.ipynb": good})
    _cp949_zip(zips / "korean.zip", "박지성/tinyadd.ipynb", good)
    (zips / "corrupt.zip").write_bytes(BAD_CASES["zip_corrupt"][2])
    whole = _zip(base / "whole.zip", {"ann/tinyadd.ipynb": good, "ann/notes.txt": b"notes"}).read_bytes()
    (zips / "truncated.zip").write_bytes(whole[: len(whole) // 2])
    _zip(zips / "evil.zip", {member: good for member in EVIL_MEMBERS.values()},
         encrypted=(EVIL_MEMBERS["zip_encrypted_entry"],), symlinks=(EVIL_MEMBERS["zip_symlink_entry"],))
    for path in base.rglob("*"):  # a fixed time for every file written just now (grades.json has submitted_at)
        if path.lstat().st_mtime > NEW:
            os.utime(path, (FILED, FILED), follow_symlinks=False)
    return subs, sorted(zips.iterdir())


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("batch")
    course = Course(make_course(base / "course"))
    subs, zips = build_inputs(base / "in")
    progress = io.StringIO()
    outcome = grade([subs, *zips], base / "out", course=course, workers=2, limits=LIMITS, stream=progress)
    return {"outcome": outcome, "rows": [row.to_json() for row in outcome.rows],  # as grades.json has them
            "course": course, "inputs": [subs, *zips], "progress": progress.getvalue(),
            "out": base / "out", "grades": (base / "out" / "grades.json").read_bytes()}


def rows_from(batch, source_part: str) -> list[dict]:
    return [row for row in batch["rows"] if source_part in row["source"]]


def the_row(batch, student, assignment="tinyadd") -> dict:
    return batch["outcome"].by_student(student, assignment).to_json()


def test_correct_renamed_colab_download_gets_full_marks(batch):
    row = the_row(batch, "alice")
    assert row["status"] == "graded" and row["score"] == 5 and row["max_score"] == 5, row
    assert row["source"].endswith("alice/Copy of tinyadd.ipynb"), row["source"]


def test_wrong_answer_loses_the_task_points_and_says_why(batch):
    row = the_row(batch, "bob")
    tests = {test["name"]: test for test in row["tests"]}
    assert row["score"] == 3, row
    assert not tests["tinyadd-add"]["passed"] and tests["tinyadd-add"]["score"] == 0, tests
    assert "did you return a + b?" in tests["tinyadd-add"]["message"], tests["tinyadd-add"]
    assert tests["tinyadd-mul"]["passed"] and tests["tinyadd-mul"]["message"] == "", tests


def test_blank_notebook_scores_zero_and_says_not_answered_yet(batch):
    row = the_row(batch, "carol")
    assert row["status"] == "graded" and row["score"] == 0, row
    # what the tests raised (NameError: name 'add' is not defined) is not what the learner needs to hear
    assert all(test["message"] == NOT_ANSWERED for test in row["tests"]), row["tests"]


def test_second_assignment_is_detected_from_grade_ids(batch):
    row = the_row(batch, "erin", "tinysub")
    assert row["status"] == "graded" and row["score"] == 1 == row["max_score"], row


def test_korean_folder_and_file_names_are_graded(batch):
    row = the_row(batch, "김민수")
    assert row["status"] == "graded" and row["score"] == 5, row
    assert (batch["out"] / "feedback" / "김민수" / "tinyadd.html").exists(), "no feedback page for 김민수"


def test_korean_names_in_a_zip_without_the_utf8_flag_are_decoded(batch):
    row = the_row(batch, "박지성")
    assert row["status"] == "graded" and row["score"] == 5, row


def test_zip_of_student_folders_is_graded(batch):
    row = the_row(batch, "zed")
    assert row["status"] == "graded" and row["score"] == 5 and "student.zip:zed/tinyadd.ipynb" in row["source"], row


def test_latest_of_two_submissions_is_graded_and_both_are_archived(batch):
    row = the_row(batch, "dave")
    assert row["score"] == 5 and row["source"].endswith("tinyadd (1).ipynb"), row
    manifest = [json.loads(line) for line in (batch["out"] / "archive" / "manifest.jsonl").read_text().splitlines()]
    daves = [entry for entry in manifest if entry["kind"] == "submission" and entry["student"] == "dave"]
    assert len(daves) == 2, f"both of dave's notebooks must be archived, found {len(daves)}"
    for entry in daves:
        assert (batch["out"] / "archive" / "sha256" / entry["sha256"][:2] / entry["sha256"]).exists(), entry
    assert batch["outcome"].superseded == 1, batch["outcome"].superseded
    assert len([r for r in batch["rows"] if r["student"] == "dave"]) == 1, "only the latest is reported"


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_is_rejected_with_a_reason(batch, case):
    folder, name, _, expected = BAD_CASES[case]
    member = EVIL_MEMBERS.get(case)
    wanted = f"{name}:{member}" if member else (f"{folder}/{name}" if folder else name)
    rows = [row for row in batch["rows"] if row["source"].endswith(wanted)]
    assert len(rows) == 1, f"{case}: expected one row for {wanted}, got {rows}"
    row = rows[0]
    assert row["status"] == "rejected" and row["score"] is None and row["tests"] == [], row
    shown = Path(member).name if member else name
    assert row["error"].startswith("'") and shown in row["error"].split("' ")[0], (
        f"{case}: the reason must start with the file's name: {row['error']}")
    assert expected in row["error"], f"{case}: expected {expected!r} in {row['error']!r}"
    actions = ("ubmit", "ownload", "Delete", "Put it", "Zip", "Clear", "Open", "pass --student")
    assert any(action in row["error"] for action in actions), f"{case}: no advice for the student: {row['error']}"


def test_bad_input_never_stops_the_batch(batch):
    statuses = {row["status"] for row in batch["rows"]}
    graded = [row for row in batch["rows"] if row["status"] == "graded"]
    assert "failed" not in statuses, [row for row in batch["rows"] if row["status"] == "failed"]
    assert len(graded) == 12, f"12 students have gradable notebooks, {len(graded)} were graded"


def test_endless_loop_is_stopped_and_the_rest_is_scored(batch):
    row = the_row(batch, "looper")
    tests = {test["name"]: test for test in row["tests"]}
    assert row["status"] == "graded" and row["score"] == 3, row
    assert "time limit" in row["error"], row["error"]
    assert tests["tinyadd-mul"]["passed"], "the task after the endless loop must still be graded"


def test_unbounded_allocation_is_stopped_and_the_rest_is_scored(batch):
    row = the_row(batch, "hogger")
    assert row["status"] == "graded" and row["score"] == 3, row
    assert "out of memory" in row["error"], row["error"]


def test_killed_kernel_is_reported_and_scored_on_what_finished(batch):
    row = the_row(batch, "quitter")
    assert row["status"] == "graded" and row["score"] == 0, row
    assert "kernel stopped" in row["error"], row["error"]
    assert all(test["message"].startswith("NotRun") for test in row["tests"]), row["tests"]


def test_grades_json_has_exactly_the_documented_fields(batch):
    data = json.loads(batch["grades"])
    assert set(data) == {"submissions"}, set(data)
    keys = {"student", "assignment", "source", "sha256", "status", "score", "max_score", "tests", "error", "flags",
            "overrides", "submitted_at", "late"}
    for row in data["submissions"]:
        assert set(row) == keys, set(row) ^ keys
        assert row["status"] in ("graded", "rejected", "failed"), row
        assert (row["score"] is None) == (row["status"] != "graded"), row
        for test in row["tests"]:
            assert set(test) == {"name", "score", "max_score", "passed", "message", "trusted", "title"}, test


GOLDEN = Path(__file__).parent / "golden" / "batch"  # KDD_UPDATE_GOLDEN=1 rewrites it (review the diff!)


def _outputs(batch) -> dict[str, str]:
    """grades.json, grades.csv and every feedback page, with this run's temporary folder written as <base>."""
    out, base = batch["out"], str(batch["out"].parent)
    paths = [out / "grades.json", out / "grades.csv", *sorted((out / "feedback").rglob("*.html"))]
    return {path.relative_to(out).as_posix(): path.read_text(encoding="utf-8").replace(base, "<base>")
            for path in paths}


def test_outputs_are_the_golden_ones(batch):
    """The same inputs give the same grades.json, CSV and feedback, byte for byte: a refactoring that changes
    what any user sees fails here (tests/autograder/golden/batch/ holds the outputs of the batch above)."""
    outputs = _outputs(batch)
    if os.environ.get("KDD_UPDATE_GOLDEN"):
        if GOLDEN.exists():
            shutil.rmtree(GOLDEN)
        for name, text in outputs.items():
            (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / name).write_text(text, encoding="utf-8")
    golden = {path.relative_to(GOLDEN).as_posix(): path.read_text(encoding="utf-8")
              for path in GOLDEN.rglob("*") if path.is_file()}
    assert sorted(outputs) == sorted(golden), f"other output files than {GOLDEN}: {set(outputs) ^ set(golden)}"
    for name, text in outputs.items():
        assert text == golden[name], (
            f"{name} differs from {GOLDEN / name}:\n"
            + "".join(difflib.unified_diff(golden[name].splitlines(True), text.splitlines(True), "golden", "now", n=1)))


def test_feedback_never_reveals_hidden_tests_or_tracebacks(batch):
    pages = list((batch["out"] / "feedback").rglob("*.html"))
    assert len(pages) >= 12, f"expected a page per student and assignment, found {len(pages)}"
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert HIDDEN_MARK not in text and "BEGIN HIDDEN TESTS" not in text, f"{page} shows hidden test code"
        assert "Traceback" not in text and "random.randint" not in text, f"{page} shows a traceback or test code"
    mul = {test["name"]: test for test in the_row(batch, "mallory")["tests"]}["tinyadd-mul"]
    assert "hidden test" in mul["message"] and HIDDEN_MARK not in mul["message"], mul
    assert HIDDEN_MARK.encode() not in batch["grades"], "grades.json quotes a hidden test"


def test_feedback_is_escaped_and_forbids_scripts(batch):
    page = (batch["out"] / "feedback" / "mallory" / "tinyadd.html").read_text(encoding="utf-8")
    assert "<img" not in page and "<script" not in page, "student text reached the page unescaped"
    assert "&lt;img src=x onerror=alert(1)&gt;" in page, "the student's message should be shown, escaped"
    assert "Content-Security-Policy" in page and "default-src 'none'" in page, "the page must forbid scripts"


def test_feedback_page_shows_each_test_with_points(batch):
    page = (batch["out"] / "feedback" / "bob" / "tinyadd.html").read_text(encoding="utf-8")
    for expected in ("tinyadd-add", "0 / 2", "tinyadd-mul", "3 / 3", "Score: 3 / 5", "did you return a + b?"):
        assert expected in page, f"{expected!r} missing from bob's feedback page"


def test_rejected_student_gets_a_page_saying_what_to_do(batch):
    page = (batch["out"] / "feedback" / "bad-truncated" / "tinyadd.html").read_text(encoding="utf-8")
    assert "could not be graded" in page and "cut off" in page, page


def test_csv_is_a_canvas_gradebook_import(batch):
    rows = list(csv.reader(io.StringIO((batch["out"] / "grades.csv").read_text(encoding="utf-8"))))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "tinyadd", "tinysub"], rows[0]
    assert rows[1][0].strip() == "Points Possible" and rows[1][5:] == ["5", "1"], rows[1]
    by_login = {row[3]: row for row in rows[2:]}
    assert by_login["alice"][5] == "5" and by_login["bob"][5] == "3" and by_login["erin"][6] == "1", by_login
    assert by_login["bad-empty"][5] == "", "a rejected submission leaves the LMS grade blank"


def test_parallel_results_are_merged_into_one_nbgrader_gradebook(batch):
    from nbgrader.api import Gradebook

    graded = [row for row in batch["rows"] if row["status"] == "graded"]
    with Gradebook(f"sqlite:///{batch['out'] / 'gradebook.db'}") as gradebook:
        for row in graded:
            submission = gradebook.find_submission(row["assignment"], row["student"])
            assert submission.score == row["score"], (row["student"], submission.score, row["score"])


def test_progress_is_reported_per_submission(batch):
    lines = [line for line in batch["progress"].splitlines() if line.startswith("[")]
    assert len(lines) == 12 and lines[-1].startswith("[12/12]"), batch["progress"]


def test_rerun_through_the_cli_changes_nothing(batch):
    manifest = batch["out"] / "archive" / "manifest.jsonl"
    before = manifest.read_text()
    command = [sys.executable, "-m", "autograder", "--course", str(batch["course"].root), "grade",
               *map(str, batch["inputs"]), "--out", str(batch["out"]), "--workers", "2", *CLI_LIMITS]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "graded rejected failed" in result.stdout and "0 graded now, 12 from earlier runs" in result.stdout, (
        result.stdout)
    assert (batch["out"] / "grades.json").read_bytes() == batch["grades"], "a rerun changed grades.json"
    assert manifest.read_text() == before, "a rerun added archive entries for inputs already archived"


def test_cli_documents_the_commands():
    result = subprocess.run([sys.executable, "-m", "autograder", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and all(word in result.stdout for word in ("release", "grade", "gradescope"))
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", "--help"], cwd=ROOT, capture_output=True,
                            text=True)
    for option in ("--assignment", "--student", "--out", "--workers", "--db", "--timeout", "--memory-mb"):
        assert option in result.stdout, f"grade --help does not document {option}"


@pytest.mark.slow
def test_release_command_checks_the_student_versions():
    result = subprocess.run([sys.executable, "-m", "autograder", "release", "--check", "--no-validate", "rmse_metric"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "up to date" in result.stdout, result.stdout + result.stderr


def test_overrides_reach_grades_csv_feedback_and_gradebook_and_a_rerun_keeps_them(batch, tmp_path):
    """A TA's overrides.csv in the output folder, applied by a rerun (every result comes from the cache): grades.json
    keeps what changed and who changed it, the CSV and the feedback page follow, nbgrader's gradebook gets a manual
    score beside its own, a line that cannot apply is a note, and running again changes nothing."""
    from nbgrader.api import Gradebook

    out = tmp_path / "out"
    shutil.copytree(batch["out"], out)
    overrides = out / "overrides.csv"
    overrides.write_text("student,assignment,task,points,by,comment\n"
                         "bob,tinyadd,add,2,TA Lee,sign slip only\n"
                         "김민수,tinyadd,total,3,Prof. Choi,하루 늦음\n"
                         "nobody,tinyadd,add,2,,\n", encoding="utf-8-sig")
    given = overrides.read_bytes()
    command = [sys.executable, "-m", "autograder", "--course", str(batch["course"].root), "grade",
               *map(str, batch["inputs"]), "--out", str(out), "--workers", "2", *CLI_LIMITS]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0 and "0 graded now" in first.stdout, first.stdout + first.stderr
    assert "overrides.csv, line 4: nobody has no graded submission of tinyadd" in first.stdout, first.stdout
    rows = {row["student"]: row for row in json.loads((out / "grades.json").read_text(encoding="utf-8"))["submissions"]
            if row["assignment"] == "tinyadd" and row["status"] == "graded"}
    bob, kim = rows["bob"], rows["김민수"]
    assert [test["score"] for test in bob["tests"]] == [2, 3] and bob["score"] == 5
    assert bob["overrides"] == [{"task": "add", "points": 2, "before": 0, "by": "TA Lee", "comment": "sign slip only",
                                 "line": 2}]
    assert kim["score"] == 3 and kim["overrides"][0]["before"] == 5 and rows["alice"]["overrides"] == []
    grades = {line["SIS Login ID"]: line for line in csv.DictReader(io.StringIO((out / "grades.csv").read_text()))}
    assert grades["bob"]["tinyadd"] == "5" and grades["김민수"]["tinyadd"] == "3"
    page = (out / "feedback" / "bob" / "tinyadd.html").read_text(encoding="utf-8")
    assert "Score: 5 / 5" in page and "Changed by your instructor" in page
    assert "0 → 2 points, by TA Lee: sign slip only" in page
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gradebook:
        grade_of_bob = gradebook.find_grade("tinyadd-add", "tinyadd", "tinyadd", "bob")
        assert (grade_of_bob.auto_score, grade_of_bob.manual_score, grade_of_bob.score) == (0, 2, 2)
    written = (out / "grades.json").read_bytes()
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and (out / "grades.json").read_bytes() == written, again.stdout + again.stderr
    assert overrides.read_bytes() == given, "grading wrote to the instructor's overrides.csv"


def test_identical_files_of_different_students_are_flagged_and_keep_their_scores(batch):
    """The reference notebook, handed in byte for byte by five students (alice, dave, 김민수, and zed and 박지성 in
    zips written another way), is flagged in each of their rows, naming the others; no score changes, and a student
    whose file is their own (bob) or worth nothing (carol's untouched notebook) is not flagged."""
    same = {"alice": {"dave", "김민수"}, "dave": {"alice", "김민수"}, "김민수": {"alice", "dave"}, "zed": {"박지성"},
            "박지성": {"zed"}}
    for student in ("alice", "dave", "김민수", "zed", "박지성", "bob", "carol"):
        row = the_row(batch, student)
        flags = [flag for flag in row["flags"] if flag.startswith("integrity:")]
        named = set(flags[0].split("submission of ")[1].split(" (")[0].split(", ")) if flags else set()
        assert named == same.get(student, set()), (student, row["flags"])
        assert student not in same or row["score"] == 5, row
