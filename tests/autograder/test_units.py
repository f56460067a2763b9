"""Small pure functions of the autograder (no grading)."""

from __future__ import annotations

import json

import pytest


from autograder.archive import Archive
from autograder.detect import guess_assignment
from autograder.files import safe_component
from autograder.intake import parse_canvas_name
from autograder.model import Submission
from autograder.results import message
from autograder.limits import Limits
from autograder.messages import templates


@pytest.mark.parametrize("name, expected", [
    ("doejane_12345_67890_rmse_metric.ipynb", ("doejane", "12345", 67890, False, "rmse_metric.ipynb")),
    ("doejane_LATE_12345_67890_Copy of rmse_metric.ipynb",
     ("doejane", "12345", 67890, True, "Copy of rmse_metric.ipynb")),
    ("kimminsu_777_888_과제 (1).ipynb", ("kimminsu", "777", 888, False, "과제 (1).ipynb")),
])
def test_canvas_download_names_are_parsed(name, expected):
    parsed = parse_canvas_name(name)
    assert parsed is not None, f"{name} is a Canvas name"
    assert (parsed["name"], parsed["user"], parsed["submission"], parsed["late"], parsed["original"]) == expected


@pytest.mark.parametrize("name", ["rmse_metric.ipynb", "Copy of rmse_metric.ipynb", "loss_history (1).ipynb",
                                  "train_step_final.ipynb"])
def test_ordinary_names_are_not_canvas_names(name):
    assert parse_canvas_name(name) is None, name


@pytest.mark.parametrize("name, expected", [("Copy of tinyadd.ipynb", "tinyadd"), ("tinyadd (1).ipynb", "tinyadd"),
                                            ("tinyadd-2.ipynb", "tinyadd"), ("homework.ipynb", None)])
def test_colab_renamed_file_names_suggest_their_assignment(name, expected):
    assert guess_assignment(name, {"tinyadd": object()}) == expected


def test_canvas_submission_id_decides_before_modification_time():
    older = Submission("1", "1", "a", "in/a", "ann", lms_submission=100, mtime=2_000_000_000.0, arrived=2_000_000_000.0)
    newer = Submission("2", "2", "a", "in/a", "ann", lms_submission=200, mtime=1_000_000_000.0, arrived=1_000_000_000.0)
    assert newer.order > older.order, "a higher Canvas submission id is the later upload"


def test_modification_time_decides_without_an_lms():
    older = Submission.from_entry({"id": "1", "name": "b", "source": "in/b", "sha256": "9", "mtime": 1.0})
    newer = Submission.from_entry({"id": "2", "name": "a", "source": "in/a", "sha256": "1", "mtime": 2.0})
    assert newer.order > older.order, "entries of an older manifest (no upload times) are ordered by file time"


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="cell_seconds"):
        Limits(cell_seconds=0)


def test_archiving_twice_stores_once(tmp_path):
    archive = Archive(tmp_path / "archive")
    first = archive.put_bytes(b"notebook")
    assert archive.put_bytes(b"notebook") == first and archive.read(first) == b"notebook"
    entry = {"kind": "received", "id": "x1", "sha256": first}
    archive.record(entry)
    archive.record(dict(entry))
    again = Archive(tmp_path / "archive")  # a later run reads the manifest back
    again.record(dict(entry))
    lines = (tmp_path / "archive" / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["archived_at"], lines


def test_safe_component_keeps_korean_and_drops_separators():
    assert safe_component("김민수") == "김민수"
    assert safe_component("../etc/passwd") == "_etc_passwd"
    assert safe_component("a\x00b") == "a_b"


def test_messages_never_quote_hidden_tests_or_tracebacks():
    hidden = frozenset({"assert secret_check(x) == 42"})
    leaked = {"outputs": [{"output_type": "error", "ename": "ValueError",
                           "evalue": "code was: assert secret_check(x) == 42", "traceback": ["..."]}]}
    assert message(leaked, hidden, passed=False) == "(the message is not shown because it quotes hidden test code)"
    patterns = templates('assert value == 0.5, f"result() is {value}"\n'
                         'raise AssertionError(f"fit() failed: {error}\\nUse ops.")')
    coloured = {"outputs": [{"output_type": "error", "ename": "AssertionError",
                             "evalue": "\x1b[31mresult() is 0.25\x1b[0m", "traceback": ["Traceback ..."]}]}
    assert message(coloured, hidden, False, patterns) == "AssertionError: result() is 0.25"
    long = {"outputs": [{"output_type": "error", "ename": "AssertionError",
                         "evalue": "fit() failed: " + "y" * 500 + "\nUse ops.", "traceback": []}]}
    shown = message(long, hidden, False, patterns)
    assert shown.startswith("AssertionError: fit() failed: yyy") and shown.endswith("Use ops.") and len(shown) < 120
    # a message the test never writes (here: code smuggled out in base64) is not shown at all
    smuggled = {"outputs": [{"output_type": "error", "ename": "AssertionError", "evalue": "YXNzZXJ0IHNl" * 40,
                             "traceback": []}]}
    assert "YXNz" not in message(smuggled, hidden, False, patterns)
    for ename in ("NotRun", "ValueError", "SmuggleError"):
        faked = {"outputs": [{"output_type": "error", "ename": ename, "evalue": "Q" * 300, "traceback": []}]}
        assert "Q" * 61 not in message(faked, hidden, False, patterns), ename
    bare = {"outputs": [{"output_type": "error", "ename": "AssertionError", "evalue": "", "traceback": []}]}
    assert message(bare, hidden, passed=False) == "AssertionError: a check in this test failed."


def test_output_folder_inside_an_input_folder_is_not_read(tmp_path):
    from autograder.intake import receive

    (tmp_path / "in" / "alice").mkdir(parents=True)
    (tmp_path / "in" / "alice" / "tinyadd.ipynb").write_text("{}")
    (tmp_path / "in" / "graded" / "results").mkdir(parents=True)
    (tmp_path / "in" / "graded" / "results" / "old.ipynb").write_text("{}")
    archive = Archive(tmp_path / "in" / "graded" / "archive")
    receive([tmp_path / "in"], archive, exclude=tmp_path / "in" / "graded")
    entries = archive.submissions()
    assert [entry.source.split("/in/")[-1] for entry in entries] == ["alice/tinyadd.ipynb"], entries


def test_broken_source_fails_only_its_own_submissions(tmp_path):
    import io

    import nbformat
    from tests.autograder.fixtures import make_course, notebook, write

    from autograder.course import Course
    from autograder.grade import grade

    course = make_course(tmp_path / "course")
    broken = notebook("tinysub", source=True)
    for cell in broken.cells:  # a source notebook whose grading metadata went missing
        cell.metadata.pop("nbgrader", None)
    nbformat.write(broken, course / "solutions" / "tinysub" / "tinysub.ipynb")
    write(notebook("tinysub"), tmp_path / "in" / "erin" / "tinysub.ipynb")
    stream = io.StringIO()
    outcome = grade([tmp_path / "in"], tmp_path / "out", course=Course(course), stream=stream)
    [row] = outcome.rows
    assert row.status == "failed" and "has no graded cells" in row.error, row
    assert "warning:" in stream.getvalue() and "tinysub" in stream.getvalue(), stream.getvalue()


def test_grading_runs_started_at_once_share_one_private_secret(tmp_path):
    """Grading runs started at once each read the secret (trusted.secret) before any has written it: all
    must get the first one written, never one that replaced it, and no other user may ever read it."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from autograder import trusted

    state, runs = tmp_path / ".grading", 16
    start = threading.Barrier(runs)

    def secret() -> bytes:
        start.wait()
        return trusted.secret(state)

    with ThreadPoolExecutor(runs) as pool:
        keys = list(pool.map(lambda _: secret(), range(runs)))
    assert len(set(keys)) == 1, f"{len(set(keys))} different secrets were used by {runs} runs"
    assert (state / "trusted-secret").stat().st_mode & 0o777 == 0o600
    assert [path.name for path in state.iterdir()] == ["trusted-secret"], "temporary files were left"


def test_task_titles_come_from_the_heading_above_each_test_cell(tmp_path):
    from autograder.course import read_spec

    folder = tmp_path / "demo"
    folder.mkdir()
    cell = lambda kind, source, **meta: {"cell_type": kind, "metadata": {"nbgrader": meta} if meta else {},
                                         "source": source, **({"outputs": []} if kind == "code" else {})}
    cells = [cell("markdown", "# Demo\n\n## Task 1: `fit()` and *more* (2 points)\n\n```python\n# not a heading\n```"),
             cell("markdown", "Intro\n\n# Part 2"),  # a level-1 heading names the notebook or a part, not a task
             cell("code", "x = 1", grade_id="demo-a-answer", solution=True, grade=False),
             cell("code", "assert x", grade_id="demo-a", grade=True, points=2, solution=False),
             cell("code", "y = 1", grade_id="demo-b-answer", solution=True, grade=False),
             cell("code", "assert y", grade_id="demo-b", grade=True, points=1, solution=False)]
    (folder / "demo.ipynb").write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                                   "nbformat_minor": 5}), encoding="utf-8")
    first, second = read_spec(folder).tests
    assert (first.title, first.answers) == ("Task 1: fit() and more", ("demo-a-answer",))
    # a task without a heading of its own (none since the test before) is named by its grade id
    assert (second.title, second.answers) == ("demo-b", ("demo-b-answer",))


def test_feedback_page_links_each_task_by_its_title_and_escapes_everything():
    from autograder.feedback import render
    from autograder.model import Row, Status, TestResult

    tests = (TestResult("demo-a", 2.0, 2.0, True, "", title="Task 1: <b>bold</b>"),
             TestResult("demo-b", 0.0, 1.0, False, "NameError: x", title="Task 2: plain"))
    row = Row("학생", "demo", "demo.ipynb", "ab" * 32, Status.GRADED, 2.0, 3.0, tests=tests)
    page = render(row, {"demo-a": "https://book.example/demo.html#task-1?a=1&b=<2>"})
    link = '<a href="https://book.example/demo.html#task-1?a=1&amp;b=&lt;2&gt;">Task 1: &lt;b&gt;bold&lt;/b&gt;</a>'
    assert link in page
    assert "<td>Task 2: plain</td>" in page and "demo-a" not in page and "demo-b" not in page


def test_gradescope_names_each_test_by_its_task_title():
    from autograder.gradescope import results_json
    from autograder.model import Row, Status, TestResult

    tests = (TestResult("demo-a", 2.0, 2.0, True, "", title="Task 1: add"), TestResult("demo-b", 0.0, 1.0, False, "no"))
    row = Row("s", "demo", "demo.ipynb", "ab" * 32, Status.GRADED, 2.0, 3.0, tests=tests, chosen=True)
    results = results_json([row], seconds=1, links={"demo-b": "https://book.example/demo.html#task-2"})
    assert [test["name"] for test in results["tests"]] == ["Task 1: add", "demo-b"]
    assert [test["output"] for test in results["tests"]] == [
        "", "no\n\nThe task in the book: https://book.example/demo.html#task-2"]


@pytest.mark.parametrize("answer, expected", [
    ({"source": "class A:\n    # YOUR CODE HERE\n    raise NotImplementedError()", "outputs": []}, True),
    ({"source": "pass", "outputs": [{"output_type": "error", "ename": "NotImplementedError"}]}, True),
    ({"source": "x = 1", "outputs": [{"output_type": "error", "ename": "NameError"}]}, False),
    ({"source": "raise NotImplementedError('my own reason')", "outputs": []}, False),
    ({"source": ["raise NotImplementedError()"], "outputs": "not a list"}, True),  # hostile shapes never raise
    ({"source": 5, "outputs": [None, 3, {"output_type": "error"}]}, False),
    (None, False),
])
def test_an_answer_cell_that_still_holds_the_stub_or_raises_it_is_not_answered(answer, expected):
    from autograder.results import _unanswered

    assert _unanswered(answer) is expected


def test_a_reference_job_has_time_for_every_seed_it_probes(tmp_path, monkeypatch):
    """A reference job runs the solution once plus one set of probes per seed: the students' notebook limit
    would stop it on a busy machine (and with it every submission of the assignment), so its limit grows with
    its seeds; students' jobs keep the instructor's limits."""
    import shutil

    import autograder.pool
    from autograder.course import Course
    from autograder.grade import grade
    from tests import ROOT

    submitted = []

    class Recorded(Exception):
        pass

    class RecordingPool:  # takes the jobs, runs none (no kernel starts) and stops the run
        def __init__(self, *args, **kwargs):
            pass

        def run(self, queue, finished):
            submitted.extend(queue)
            raise Recorded

        def close(self):
            pass

    monkeypatch.setattr(autograder.pool, "WorkerPool", RecordingPool)
    course = tmp_path / "course"
    shutil.copytree(ROOT / "solutions" / "rmse_metric", course / "solutions" / "rmse_metric")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    for student in ("ann", "bo", "철수"):
        (tmp_path / "in" / student).mkdir(parents=True)
        shutil.copy(ROOT / "exercises" / "rmse_metric" / "rmse_metric.ipynb", tmp_path / "in" / student)
    limits = Limits(notebook_seconds=40)
    with pytest.raises(Recorded):
        grade([tmp_path / "in"], tmp_path / "out", course=Course(course), limits=limits, sandboxed=False)
    references = [job for job in submitted if job.context.kind.value == "reference"]
    students = [job for job in submitted if job.context.kind.value != "reference"]
    assert references and sum(len(job.context.group) for job in students) == 3  # identical notebooks: one job
    for job in references:
        seeds = len(job.context.seeds)
        assert seeds >= 3 and job.payload["limits"]["notebook_seconds"] == 40 * (1 + seeds), job.payload["limits"]
        assert job.hard_seconds == Limits(notebook_seconds=40 * (1 + seeds)).job_seconds
    assert all(job.payload["limits"] == Limits(notebook_seconds=40).__dict__ for job in students)


def test_nbgraders_checksum_warnings_are_dropped_only_for_cells_with_hidden_tests():
    import logging

    from autograder.worker import _HiddenChecksums

    keep = _HiddenChecksums()
    keep.cells = frozenset({"rmse_metric-update"})

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("autograder.worker", logging.WARNING, __file__, 1, message, (), None)

    assert not keep.filter(record("Attribute 'checksum' for cell rmse_metric-update has changed! (should be: a)"))
    assert keep.filter(record("Attribute 'checksum' for cell rmse_metric-locked-3 has changed! (should be: a)"))
    assert keep.filter(record("Executing notebook with kernel: python3"))


def test_progress_shows_the_reference_runs_and_keeps_names_off_a_live_terminal():
    import io

    from autograder.model import Row, Status
    from autograder.progress import Progress

    lines = io.StringIO()
    plain = Progress(1, lines, references=2)
    plain.reference("rmse_metric", True)
    plain.reference("rmse_metric", False)
    plain.advance(Row("ann", "rmse_metric", "x", None, Status.GRADED, 4, 8))
    plain.finish()
    assert lines.getvalue().splitlines() == [
        "grading 1 submission(s), after 2 reference run(s) for the trusted check",
        "reference run 1/2 (rmse_metric): done", "reference run 2/2 (rmse_metric): FAILED (see grades.json)",
        "[1/1] ann rmse_metric: graded 4/8"]

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    live = Progress(2, terminal, references=1)
    live.reference("rmse_metric", True)
    live.advance(Row("\x1b[2Jann", "rmse_metric", "x", None, Status.GRADED, 4, 8))
    live.advance(Row("bo", "rmse_metric", "x", None, Status.REJECTED, None, 8))
    live.finish()
    shown = terminal.getvalue()
    assert "reference solutions" in shown and "graded 1 rejected 1 failed 0" in shown and "2/2" in shown
    assert "ann" not in shown and "\x1b[2J" not in shown


def test_a_zip_entrys_utc_time_field_wins_over_its_zoneless_local_time():
    import calendar
    import struct
    import zipfile
    from datetime import datetime, timezone

    from autograder.intake import FILETIME_EPOCH, _zip_time

    due = datetime(2026, 10, 1, 14, 59, tzinfo=timezone.utc)  # 23:59 in Korea, which the zip's own fields say
    entry = zipfile.ZipInfo("ann/rmse_metric.ipynb", date_time=(2026, 10, 1, 23, 59, 0))
    local = calendar.timegm((2026, 10, 1, 23, 59, 0, 0, 0, 0))
    assert _zip_time(entry) == local, "no extra field: the local time, read as UTC"
    entry.extra = struct.pack("<HHBi", 0x5455, 5, 1, int(due.timestamp()))
    assert _zip_time(entry) == due.timestamp()
    filetime = int((due.timestamp() + FILETIME_EPOCH) * 10_000_000)
    entry.extra = struct.pack("<HH", 0x0001, 2) + b"xx" + struct.pack("<HHIHHQQQ", 0x000A, 32, 0, 1, 24, filetime, 0, 0)
    assert _zip_time(entry) == due.timestamp(), "the NTFS field, after a field of another kind"
    for broken in (b"\x55\x54\x05\x00\x00", b"\x55\x54\x09\x00\x01\x02", b"\x0a\x00\x20\x00" + b"\x00" * 5, b"\xff"):
        entry.extra = broken
        assert _zip_time(entry) == local, broken
