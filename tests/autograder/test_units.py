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
