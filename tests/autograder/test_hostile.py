"""Hostile input never stops a batch: each input gives its row, the batch completes, and so does a rerun.

Most tests are units (no kernel): bounded parsing of notebooks and of probe output, the message filter,
names, zips, capped kernel messages and escaped terminal lines, each fed the inputs that once crashed a
run, plus seeded random ones. One fuzz-style batch then grades such inputs with real kernels (the tiny
`tinyadd` course, with a trusted check of its own) and grades them again.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import struct
import zipfile
from pathlib import Path

import nbformat
import pytest

from tests.autograder.fixtures import make_course, notebook, reference, write

from autograder import messages, trusted
from autograder.sandbox import channels
from autograder.archive import Archive
from autograder.course import Course
from autograder.detect import MAX_CELLS, MAX_VALUES, detect
from autograder.files import safe_component
from autograder.intake import MAX_LISTED_EXTRAS, MAX_ZIP_MEMBERS, receive
from autograder.limits import Limits
from autograder.model import Row, Status, Submission
from autograder.progress import Progress, summary

SEED = 20261201  # every random input below comes from this seed, so a failure can be replayed
NONCE = "kdd-trusted-0123456789abcdef"


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    return Course(make_course(tmp_path_factory.mktemp("course"))).specs()[0]


def _text(nb=None) -> str:
    return nbformat.writes(nb if nb is not None else reference("tinyadd"))


def _with_metadata(value_json: str) -> bytes:
    """The reference notebook with `"x": <value_json>` in its first cell's metadata (raw text: any depth)."""
    return _text().replace('"metadata": {', '"metadata": {"x": ' + value_json + ", ", 1).encode()


def _problem(data: bytes, specs) -> str:
    detection = detect(data, specs)
    assert detection.problem, f"accepted: {data[:80]!r}"
    return detection.problem


# --- submitted notebooks: bounded parsing and nbgrader metadata types ---------------------------------------

def test_notebook_nested_50000_deep_is_rejected(specs):
    assert "nested more than" in _problem(_with_metadata("[" * 50_000 + "]" * 50_000), specs)


def test_notebook_nested_too_deep_for_nbformat_is_rejected_by_name(specs):
    assert "nested 504 deep" in _problem(_with_metadata("[" * 500 + "]" * 500), specs)


def test_notebook_number_of_thousands_of_digits_is_rejected(specs):
    assert "a number of 4000 characters" in _problem(_with_metadata("9" * 4000), specs)


def test_notebook_of_too_many_cells_is_rejected_with_advice(specs):
    nb = reference("tinyadd")
    nb.cells += [nbformat.v4.new_markdown_cell("x") for _ in range(MAX_CELLS)]
    problem = _problem(_text(nb).encode(), specs)
    assert f"more than the {MAX_CELLS} accepted" in problem and "Delete the cells" in problem, problem


def test_notebook_of_too_many_values_is_rejected(specs):
    assert "values" in _problem(_with_metadata(json.dumps([0] * MAX_VALUES)), specs)


@pytest.mark.parametrize("field, value, expected", [
    ("grade_id", ["tinyadd-add"], "grade_id is a list, not text"),
    ("grade_id", {"id": 1}, "grade_id is an object"),
    ("points", "2", "points are text"),
    ("points", -1, "points are the number -1"),
    ("grade", 1, "grade flag is the number 1"),
    ("locked", "yes", "locked flag is text"),
])
def test_nbgrader_metadata_of_the_wrong_type_is_rejected_naming_the_cell(specs, field, value, expected):
    nb = reference("tinyadd")
    nb.cells[3].metadata["nbgrader"][field] = value
    problem = _problem(_text(nb).encode(), specs)
    assert "cell 4" in problem and expected in problem, problem


def test_nbgrader_metadata_that_is_not_an_object_is_rejected(specs):
    nb = reference("tinyadd")
    nb.cells[3].metadata["nbgrader"] = ["tinyadd-add"]
    assert "nbgrader data is a list" in _problem(_text(nb).encode(), specs)


def test_a_copied_locked_cell_is_rejected_before_nbgrader_fails_on_it(specs):
    nb = reference("tinyadd")
    nb.cells.append(nbformat.v4.new_code_cell("import math", metadata={"nbgrader": dict(nb.cells[1].metadata.nbgrader)}))
    assert "'tinyadd-locked-1' more than once" in _problem(_text(nb).encode(), specs)


JUNK = [None, True, False, 0, -7, 2.5, "", "tinyadd-add", "x" * 300, [], {}, ["tinyadd-add"], {"grade_id": []},
        [[[[]]]], {"a": {"b": {"c": []}}}, 10 ** 150]


def _mutated(rng: random.Random, base: dict) -> bytes:
    """The notebook with one random value replaced, deleted or duplicated, or its text cut or spliced."""
    kind = rng.randrange(6)
    text = json.dumps(base)
    if kind == 0:
        return text[: rng.randrange(len(text))].encode()
    if kind == 1:
        at = rng.randrange(len(text))
        return (text[:at] + rng.choice(["[" * 3000, "]", '"', "\x00", "9" * 5000, "{}"]) + text[at:]).encode()
    nb = json.loads(text)
    parent, key, node = None, None, nb
    for _ in range(rng.randrange(1, 7)):  # walk down to a random value: parent[key]
        keys = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        if not keys:
            break
        parent, key = node, rng.choice(keys)
        if not isinstance(node[key], (dict, list)) or rng.random() < 0.3:
            break
        node = node[key]
    if parent is None:
        return json.dumps(rng.choice(JUNK)).encode()
    if kind == 2 and isinstance(parent, dict):
        del parent[key]
    elif kind == 3 and isinstance(parent, list):
        parent.append(parent[key])
    else:
        parent[key] = rng.choice(JUNK)
    return json.dumps(nb).encode()


def test_random_notebooks_never_crash_detection(specs):
    rng, base = random.Random(SEED), json.loads(_text())
    for case in range(300):
        data = _mutated(rng, base)
        detection = detect(data, specs)  # must not raise
        assert isinstance(detection.problem, str) or detection.assignment in specs, (case, detection)


# --- probe output: bounded parsing, a comparison that cannot raise -------------------------------------------

def _probed(*lines: str) -> dict:
    """An executed notebook with one probe cell per printed line (tasks t0, t1, ...)."""
    return {"cells": [{"cell_type": "code", "metadata": {trusted.METADATA: {"task": f"t{index}", "nonce": NONCE}},
                       "outputs": [{"output_type": "stream", "name": "stdout", "text": f"{NONCE} {line}\n"}]}
                      for index, line in enumerate(lines)]}


def test_probe_result_holding_a_huge_integer_is_an_error():
    observed = trusted.observations(_probed('{"value": {"sum": 1' + "0" * 400 + "}}"), NONCE)["t0"]
    assert set(observed) == {"error"} and "number" in observed["error"], observed


def test_probe_result_nested_50000_deep_is_an_error():
    observed = trusted.observations(_probed('{"value": ' + "[" * 50_000 + "]" * 50_000 + "}"), NONCE)["t0"]
    assert set(observed) == {"error"} and "nested" in observed["error"], observed


def test_probe_output_of_the_wrong_types_is_no_result():
    notebook = {"cells": [{"metadata": {trusted.METADATA: {"task": "t0", "nonce": NONCE}},
                           "outputs": [{"output_type": "stream", "name": "stdout", "text": [1, {"a": 2}]}]}]}
    assert trusted.observations(notebook, NONCE) == {"t0": {"error": "the check printed no result"}}


def test_comparing_a_huge_integer_gives_a_difference_not_an_overflow():
    assert trusted.difference({"sum": 10 ** 400}, {"sum": 3}) == "sum", "an overflow must be a difference"


def test_comparing_very_deep_values_gives_a_difference_not_a_recursion_error():
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    assert trusted.difference(deep, deep) is not None, "past MAX_DEPTH values are not compared"


def _random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 6 else 6)
    if kind == 0:
        return 10 ** rng.randrange(400)
    if kind == 1:
        return rng.choice([0.1, -2.5, 1e308, float("inf"), float("nan")])
    if kind in (2, 3):
        return rng.choice(["", "x", "kdd-trusted-", "\x1b[2J", "[{"])
    if kind == 4:
        return rng.choice([True, False, None])
    if kind == 5:
        return rng.randrange(-10, 10)
    if kind in (6, 7):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {f"k{index}": _random_value(rng, depth + 1) for index in range(rng.randrange(4))}


def _random_line(rng: random.Random) -> str:
    line = json.dumps({rng.choice(["value", "error", "other"]): _random_value(rng)})
    kind = rng.randrange(5)
    if kind == 0:
        return line[: rng.randrange(len(line) + 1)]
    if kind == 1:
        depth = rng.choice([10, 40, 2000, 60_000])
        return '{"value": ' + "[" * depth + "]" * depth + "}"
    if kind == 2:
        return "".join(rng.choice('[]{}",:0123456789e-.tnfalsu\\ ') for _ in range(rng.randrange(60)))
    return line


def test_random_probe_lines_never_raise_and_never_confirm_by_accident():
    rng = random.Random(SEED)
    lines = [_random_line(rng) for _ in range(400)]
    observed = trusted.observations(_probed(*lines), NONCE)
    assert len(observed) == len(lines), "one observation per probe cell"
    expected = {"value": {"sum": 3, "items": [1.0, 2.0]}}
    for task, observation in observed.items():
        assert isinstance(observation, dict), (task, observation)
        why = trusted.verdict(observation, expected)  # must not raise
        assert why is None or isinstance(why, str), (task, why)
        if why is None:
            assert trusted.difference(observation["value"], expected["value"]) is None, task


# --- the message filter --------------------------------------------------------------------------------------

HIDDEN_TEST = "assert add(a, b) == a + b, f'add({a}, {b}) is wrong'\nassert mul(2, 3) == 6, f'x{p}y{q}y{r}z'"


def test_a_330_kb_message_shaped_like_a_tests_own_is_not_matched_in_full(monkeypatch):
    patterns, real = messages.templates(HIDDEN_TEST), messages.re.fullmatch

    def bounded_fullmatch(pattern, text, *args, **kwargs):
        assert len(text) <= 8192, f"{len(text)} characters matched against a template (the work grows with it)"
        return real(pattern, text, *args, **kwargs)

    monkeypatch.setattr(messages.re, "fullmatch", bounded_fullmatch)
    shown = messages.allowed("AssertionError", "add(" + "1, " * 110_000 + ") is wron", patterns)
    assert "too long" in shown, shown


def test_templates_with_several_slots_find_the_same_match_as_before():
    rng = random.Random(SEED)
    source = 'assert v, f"x{a}y{b}y {c} y{d}z"\nassert w, f"{a}{b} is {c}"\nassert u, "plain text"'
    linear = messages.templates(source)
    lazy = []
    for node in messages.ast.walk(messages.ast.parse(source)):
        if isinstance(node, messages.ast.Assert):
            lazy.append(messages._pattern(node.msg))
    assert len(linear) == len(lazy) == 3
    for _ in range(3000):
        text = " ".join("".join(rng.choice("xyz is") for _ in range(rng.randrange(14))).split())
        for fast, slow in zip(linear, lazy):
            a, b = messages.re.fullmatch(fast, text), messages.re.fullmatch(slow, text)
            assert (a and a.regs) == (b and b.regs), (text, fast)


# --- names from student data ---------------------------------------------------------------------------------

def test_student_id_of_100_non_ascii_digits_fits_the_file_system(tmp_path):
    name = safe_component("\U0001d7d7" * 100)  # MATHEMATICAL BOLD DIGIT NINE: 4 bytes each in UTF-8
    page = tmp_path / name / f".{safe_component('tinyadd')}.html.abcdefgh.tmp"  # atomic_write's temporary name
    page.parent.mkdir()
    page.write_text("ok", encoding="utf-8")  # OSError: File name too long, when names are cut by characters
    assert page.read_text(encoding="utf-8") == "ok"


def test_long_ids_that_begin_alike_get_different_names():
    first, second = safe_component("a" * 300 + "1"), safe_component("a" * 300 + "2")
    assert first != second, "two students' feedback folders must not collide"


# --- terminal output -----------------------------------------------------------------------------------------

EVIL_ROW = Row(student="eve\x1b[2J", assignment="tinyadd", source="in/eve/tinyadd.ipynb", sha256=None,
              status=Status.REJECTED, score=None, max_score=5,
              error="'\x1b[8mtinyadd.ipynb\nrejected bob / tinyadd: fine' is not JSON")


def test_summary_escapes_control_characters_from_submissions():
    text = summary([EVIL_ROW])
    assert "\x1b" not in text and "\\x1b[8m" in text, text
    assert not any(line.startswith("rejected bob") for line in text.splitlines()), "a file name forged a line"


def test_progress_lines_escape_control_characters_from_submissions():
    stream = io.StringIO()
    Progress(1, stream).advance(EVIL_ROW)
    assert "\x1b" not in stream.getvalue() and "eve\\x1b[2J" in stream.getvalue(), stream.getvalue()


# --- zips ------------------------------------------------------------------------------------------------------

def _overlapping_zip(path: Path, copies: int = 30) -> Path:
    """One deflated member, listed `copies` times in the central directory, all at the same data."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bob/tinyadd.ipynb", b"\0" * 2**16)
    raw = buffer.getvalue()
    start, end = raw.index(b"PK\x01\x02"), raw.index(b"PK\x05\x06")
    trailer = bytearray(raw[end:])
    struct.pack_into("<HHII", trailer, 8, copies, copies, (end - start) * copies, start)
    path.write_bytes(raw[:start] + raw[start:end] * copies + bytes(trailer))
    return path


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _received(tmp_path: Path, *paths: Path, max_bytes: int = 2**20) -> list[Submission]:
    archive = Archive(tmp_path / "out" / "archive")
    receive(list(paths), archive, max_bytes=max_bytes)
    return archive.submissions()


def test_zip_with_overlapping_entries_is_one_rejected_row(tmp_path):
    [entry] = _received(tmp_path, _overlapping_zip(tmp_path / "bomb.zip"))
    assert "overlap" in entry.problem, entry.problem


def test_zip_of_too_many_files_is_one_rejected_row(tmp_path):
    path = _zip(tmp_path / "many.zip", {f"s{index}/f.ipynb": b"x" for index in range(MAX_ZIP_MEMBERS + 500)})
    [entry] = _received(tmp_path, path)
    assert f"more than the {MAX_ZIP_MEMBERS} accepted" in entry.problem, entry.problem


def test_zip_that_unpacks_to_many_times_its_size_is_rejected(tmp_path):
    path = _zip(tmp_path / "big.zip", {f"bob/t{index}.ipynb": bytes([index]) * 900_000 for index in range(10)})
    [entry] = _received(tmp_path, path)
    assert "unpacks to" in entry.problem, entry.problem


def test_zips_inside_a_zip_share_one_budget(tmp_path):
    inner = {f"bob/t{index}.ipynb": bytes([index]) * 900_000 for index in range(2)}
    outer = _zip(tmp_path / "outer.zip", {f"bob/{index}.zip": _zip(tmp_path / f"{index}.zip", inner).read_bytes()
                                          for index in range(4)})
    entries = _received(tmp_path, outer)
    unpacked = sum(entry.size for entry in entries if entry.sha256 and not entry.problem)
    assert unpacked <= 3 * 2**20, f"{unpacked} bytes unpacked from a {outer.stat().st_size}-byte input"


def test_files_that_are_not_notebooks_beyond_a_few_are_counted_in_one_row(tmp_path):
    entries = _received(tmp_path, _zip(tmp_path / "notes.zip", {f"bob/n{index}.txt": b"x" for index in range(100)}))
    assert len(entries) == MAX_LISTED_EXTRAS + 1, f"{len(entries)} rows for 100 text files"
    assert f"{100 - MAX_LISTED_EXTRAS} more files" in entries[-1].problem, entries[-1]


# --- kernel messages -------------------------------------------------------------------------------------------

async def _exchange(frames: int, frame_bytes: int) -> dict:
    """Send one IOPub message with `frames` buffers of `frame_bytes` each; what the capped channel returns."""
    import zmq.asyncio
    from jupyter_client.session import Session

    context = zmq.asyncio.Context()
    publisher, subscriber = context.socket(zmq.XPUB), context.socket(zmq.SUB)
    try:
        publisher.bind("inproc://iopub")
        subscriber.connect("inproc://iopub")
        subscriber.setsockopt(zmq.SUBSCRIBE, b"")
        await publisher.recv()  # the subscription has arrived: nothing sent now is dropped
        session = Session(key=b"secret")
        parent = session.msg("execute_request")
        session.send(publisher, "stream", {"name": "stdout", "text": "hi"}, parent=parent,
                     buffers=[b"x" * frame_bytes] * frames)
        channel = channels.CappedChannel(subscriber, session)
        message = await channel.get_msg(timeout=30)
        return {"message": message, "parent": parent["header"]["msg_id"]}
    finally:
        publisher.close(linger=0)
        subscriber.close(linger=0)
        context.term()


def test_message_of_many_small_frames_over_the_cap_becomes_output_lost(monkeypatch):
    monkeypatch.setattr(channels, "MAX_MESSAGE_BYTES", 10_000)
    got = asyncio.run(_exchange(frames=50, frame_bytes=1000))  # each frame far under the cap, all together over
    message = got["message"]
    assert message["msg_type"] == "error" and message["content"]["ename"] == messages.OUTPUT_LOST, message
    assert message["parent_header"]["msg_id"] == got["parent"], "the error must reach the cell that sent it"
    assert message["buffers"] == [], "nothing of the dropped message is kept"


def test_message_under_the_cap_arrives_whole(monkeypatch):
    monkeypatch.setattr(channels, "MAX_MESSAGE_BYTES", 10_000)
    message = asyncio.run(_exchange(frames=5, frame_bytes=1000))["message"]
    assert message["msg_type"] == "stream" and len(message["buffers"]) == 5, message["msg_type"]


# --- one batch of hostile inputs, graded, then graded again ----------------------------------------------------

CHECK = '''\
def check_add(rng, ns):
    a, b = (int(value) for value in rng.integers(-9, 9, 2))
    return {"sum": ns["add"](a, b)}


def check_mul(rng, ns):
    a, b = (int(value) for value in rng.integers(-9, 9, 2))
    return {"product": ns["mul"](a, b)}
'''
FORGED_PROBE = '''\
import builtins
_print = builtins.print
def _forge(*args, **kwargs):  # the probe prints "<nonce> <json>": replace the json
    if args and str(args[0]).startswith("kdd-trusted-"):
        return _print(args[0], {line!r})
    return _print(*args, **kwargs)
def add(a, b):
    builtins.print = _forge
    return a + b'''
LIMITS = Limits(notebook_seconds=60, cell_seconds=20, memory_mb=384, file_mb=1)


def _hostile_inputs(base: Path) -> tuple[list[Path], dict[str, str]]:
    """The inputs, and for each a part of the source of the one row it must give."""
    subs, rows = base / "subs", {}
    good = _text().encode()

    def add(folder: str, data) -> None:
        write(data, subs / folder / "tinyadd.ipynb")
        rows[folder] = f"{folder}/tinyadd.ipynb"

    mul = {"mul": "def mul(a, b):\n    return a * b"}
    add("huge", notebook("tinyadd", {"add": FORGED_PROBE.format(line='{"value": {"sum": 1' + "0" * 400 + "}}"),
                                     **mul}))
    add("deep", notebook("tinyadd", {"add": FORGED_PROBE.format(line='{"value": ' + "[" * 50_000 + "]" * 50_000
                                                                     + "}"), **mul}))
    add("shout", notebook("tinyadd", {"add": "def add(a, b):\n    raise AssertionError('add(' + '1, ' * 110000 + "
                                             "') is wron')", **mul}))
    add("nested", _with_metadata("[" * 50_000 + "]" * 50_000))
    nb = reference("tinyadd")
    nb.cells[3].metadata["nbgrader"]["grade_id"] = ["tinyadd-add"]
    add("listid", _text(nb).encode())
    add("bigint", _with_metadata("9" * 4000))
    rng, parsed = random.Random(SEED), json.loads(good)
    for index in range(6):
        add(f"fuzz{index}", _mutated(rng, parsed))
    zips = base / "zips"
    zips.mkdir()
    paths = [subs, _overlapping_zip(zips / "overlap.zip"),
             _zip(zips / "many.zip", {f"s{index}/f.txt": b"x" for index in range(MAX_ZIP_MEMBERS + 500)}),
             _zip(zips / "bomb.zip", {f"bob/t{index}.ipynb": bytes([index]) * 900_000 for index in range(10)}),
             _zip(zips / "longid.zip", {"\U0001d7d7" * 100 + "/tinyadd.ipynb": b""}),
             _zip(zips / "escapes.zip", {"eve/\x1b[2J\x1b[Htinyadd.ipynb": b"not json"})]
    rows.update({"overlap": "overlap.zip", "many": "many.zip", "bomb": "bomb.zip", "longid": "longid.zip",
                 "escapes": "escapes.zip"})
    return paths, rows


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    from autograder.grade import grade

    base = tmp_path_factory.mktemp("hostile")
    course = Course(make_course(base / "course"))
    (course.root / "checks").mkdir()  # the course's own checks (as a private course has): probes run and are parsed
    (course.root / "checks" / "tinyadd.py").write_text(CHECK, encoding="utf-8")
    paths, expected = _hostile_inputs(base / "in")
    first = grade(paths, base / "out", course=course, workers=2, limits=LIMITS, stream=io.StringIO())
    grades = (base / "out" / "grades.json").read_bytes()
    again = grade(paths, base / "out", course=course, workers=2, limits=LIMITS, stream=io.StringIO())
    return {"first": first, "again": again, "expected": expected, "grades": grades, "out": base / "out"}


def test_batch_gives_one_row_per_input(hostile):
    rows = hostile["first"].rows
    for name, source in hostile["expected"].items():
        found = [row for row in rows if source in row.source]
        assert len(found) == 1, f"{name}: {len(found)} rows: {[row.source for row in found][:5]}"
        assert found[0].status in ("graded", "rejected", "failed"), found[0]


def test_batch_forged_probe_results_are_not_confirmed(hostile):
    for student in ("huge", "deep"):
        row = hostile["first"].by_student(student, "tinyadd")
        add = [test for test in row.tests if test.name == "tinyadd-add"]
        assert row.status == "graded" and add[0].trusted is False and add[0].score == 0, (student, row)


def test_batch_assertion_message_of_330_kb_is_withheld(hostile):
    row = hostile["first"].by_student("shout", "tinyadd")
    add = [test for test in row.tests if test.name == "tinyadd-add"]
    assert add and "too long" in add[0].message and len(add[0].message) < 200, row


def test_batch_rerun_completes_and_changes_nothing(hostile):
    again = hostile["again"]
    assert again.graded_now == 0, f"{again.graded_now} graded again: a result was not kept"
    assert (hostile["out"] / "grades.json").read_bytes() == hostile["grades"], "the rerun changed grades.json"


def test_batch_summary_is_inert(hostile):
    text = hostile["first"].summary()
    assert "\x1b" not in text and "\\x1b[2J" in text, "escape sequences from a file name reached the terminal"
