"""The attack suite (issue 8): hostile submissions graded through `python -m autograder grade`.

Every attack in tests/autograder/attacks.py is a student notebook built from a released exercise. All of them,
plus the blank exercise and an innocent "victim" submission, are graded in ONE run of the command
instructors use (a module fixture), once in each sandbox tier (tiers.py): bubblewrap, and uid-only in
a container whose bwrap cannot create namespaces (tests/autograder/container.py); the uid-only run
leaves out the attacks that only edit cells and metadata (CELL_EDITS: they run no code of their own). No attack may
score above the blank notebook, stop the batch, reach the grader's files, other submissions or the
solutions, or leave a process behind; in the bwrap tier none may reach the network either (the
uid-only tier cannot cut it, and says so). Last, one attack of each kind (file thief, result forgers,
test patcher, kernel killer, daemon, bomb) goes through Gradescope's `run_autograder` in such a
container, one container per submission as Gradescope runs them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.autograder.attacks import ASSIGNMENT, ATTACKS, FAKE_OUTPUT, HTML_STUDENT, REPORT
from tests.autograder import container
from tests.autograder.fixtures import Descendants
from tests import ROOT

from autograder.sandbox import bwrap
from autograder.course import Course, read_spec
from autograder.limits import Limits
from autograder.sandbox.tiers import Tier

MEMORY_MB = 1536  # TensorFlow and the exercise need about 600 MB
CLI_LIMITS = ["--timeout", "90", "--cell-timeout", "20", "--memory-mb", str(MEMORY_MB)]
DISK_MB = Limits().disk_mb  # the largest file a kernel may write
WATCHED = ("solutions", "exercises", "autograder")  # what grading must never change
SANDBOX_UIDS = range(bwrap.UID_BASE, bwrap.UID_BASE + bwrap.UID_COUNT)
BLANK, VICTIM = "blank", "victim"
SECRET = "VICTIM-SECRET-" + "5f1c0e9a"  # in the victim's notebook only; the thief looks for "VICTIM-SECRET"
SPEC = read_spec(ROOT / "solutions" / ASSIGNMENT)
# In the uid-only tier a kernel reads what any user of the machine may: the course's source and the
# trusted checks must be private (the grader refuses otherwise); the run makes them so, and puts back
# their modes after it.
PRIVATE_FOR_UID_TIER = (ROOT / "solutions", ROOT / "autograder" / "checks")
MARKERS_INSIDE = f"{container.TMP}/kdd-attack-markers"  # in a container: a folder any process may write


# Attacks that only edit cells and their nbgrader metadata run no code of their own in the kernel (its cells are
# the blank exercise's): intake and nbgrader undo them, the same code whatever sandbox the kernel has. The bwrap
# batch grades them; the uid-only batch spends its kernels on what a sandbox tier must stop. (A kernelspec of
# the student's choosing is about how a kernel starts, which each tier does its own way: every tier grades it.)
CELL_EDITS = frozenset(name for name, attack in ATTACKS.items() if attack.edit and not attack.answers) - {
    "other_kernelspec"}


def attacks_of(tier: Tier) -> list[str]:
    """The attacks the batch of a tier grades."""
    return [name for name in ATTACKS if tier is Tier.BWRAP or name not in CELL_EDITS]


def graded_in(run, name: str) -> None:
    """Skip a test of an attack that this tier's batch does not grade."""
    if name not in attacks_of(run.tier):
        pytest.skip("an attack that only edits cells and metadata is graded in the bwrap batch only (CELL_EDITS)")


def student_of(name: str) -> str:
    return ATTACKS[name].student or name


def notebook_for(name: str, params: dict[str, str]) -> dict:
    """The blank exercise with the attack's answers or edits, and a first cell that names the attack."""
    nb = json.loads((ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text(encoding="utf-8"))
    attack = ATTACKS[name]
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        task = grade_id.removeprefix(f"{ASSIGNMENT}-").removesuffix("-answer")
        if grade_id.endswith("-answer") and task in attack.answers:
            source = attack.answers[task]
            for token, value in params.items():
                source = source.replace(token, value)
            cell["source"] = source.strip() + "\n"
    if attack.edit:
        attack.edit(nb)
    nb["cells"].insert(0, {"cell_type": "markdown", "id": "kdd-attack", "metadata": {},
                           "source": f"attack: {name}"})  # finds the executed notebook in results/
    return nb


def victim_notebook() -> dict:
    nb = json.loads((ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text(encoding="utf-8"))
    answer = next(cell for cell in nb["cells"] if cell["metadata"].get("nbgrader", {}).get("solution"))
    answer["source"] = f"# my notes, nobody else's business: {SECRET}\n" + "".join(answer["source"])
    return nb


class Listener:
    """TCP, UDP and abstract Unix sockets on the grader's machine that record whoever reaches them."""

    def __init__(self) -> None:
        self.reached: list[str] = []
        self.tcp = socket.create_server(("0.0.0.0", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("0.0.0.0", 0))
        self.abstract_name = f"kdd-attack-{time.time_ns()}"
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind("\0" + self.abstract_name)
        self.unix.listen()
        for server, kind in ((self.tcp, "tcp"), (self.unix, "abstract unix")):
            threading.Thread(target=self._accept, args=(server, kind), daemon=True).start()
        threading.Thread(target=self._receive, daemon=True).start()

    def _accept(self, server: socket.socket, kind: str) -> None:
        while True:
            try:
                connection, peer = server.accept()
            except OSError:
                return
            self.reached.append(f"{kind} connection from {peer}")
            connection.close()

    def _receive(self) -> None:
        while True:
            try:
                _, peer = self.udp.recvfrom(4096)
            except OSError:
                return
            self.reached.append(f"udp datagram from {peer}")

    def hosts(self) -> list[str]:
        """Addresses a student might try: loopback and every address of this machine."""
        addresses = {"127.0.0.1", "localhost"}
        try:
            addresses |= set(socket.gethostbyname_ex(socket.gethostname())[2])
        except OSError:
            pass
        return sorted(addresses)

    def close(self) -> None:
        for server in (self.tcp, self.udp, self.unix):
            server.close()


def tree_hashes(*folders: Path) -> dict[str, str]:
    """SHA-256 of every file under the folders (caches of the Python interpreter excluded)."""
    hashes = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                hashes[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


@dataclass
class Run:
    base: Path
    out: Path
    markers: Path
    result: subprocess.CompletedProcess
    seconds: float
    listener: Listener
    before: dict[str, str]
    inputs: dict[str, str]
    descendants: Descendants
    rows: list[dict] = field(default_factory=list)
    tier: Tier = Tier.BWRAP

    def graders(self, paths: list[str]) -> list[str]:
        """Those of `paths` inside this run's grader folders or inputs (a folder's name is no secret), or
        notebooks anywhere."""
        tops = [str(self.out), str(self.base / "subs"), str(ROOT / ".grading"), *map(str, PRIVATE_FOR_UID_TIER)]
        return [path for path in paths if path.endswith(".ipynb") or any(path.startswith(top + "/") for top in tops)]

    def row(self, student: str) -> dict:
        rows = [row for row in self.rows if row["student"] == student]
        assert len(rows) == 1, f"expected one row for {student!r} in grades.json, found {len(rows)}"
        return rows[0]

    def executed_path(self, name: str) -> Path:
        """Where the notebook of an attack, as nbgrader executed it, is kept (results/<key>.ipynb)."""
        for path in (self.out / "results").glob("*.ipynb"):
            nb = json.loads(path.read_text(encoding="utf-8"))
            if nb["cells"] and "".join(nb["cells"][0].get("source", "")) == f"attack: {name}":
                return path
        raise AssertionError(f"no executed notebook of {name} in {self.out / 'results'}")

    def executed(self, name: str) -> dict:
        return json.loads(self.executed_path(name).read_text(encoding="utf-8"))

    def reports(self, name: str) -> list[dict]:
        """What the attack printed about itself (`KDD-ATTACK-REPORT {...}` lines), in order."""
        found = []
        for cell in self.executed(name)["cells"]:
            for output in cell.get("outputs", []):
                text = "".join(output.get("text", ""))
                found += [json.loads(line.split(" ", 1)[1]) for line in text.splitlines() if line.startswith(REPORT)]
        return found


@contextlib.contextmanager
def private_course_sources():
    """PRIVATE_FOR_UID_TIER private to root while a uid-only tier grades, then as they were."""
    modes = {path: path.stat().st_mode & 0o7777 for path in PRIVATE_FOR_UID_TIER}
    try:
        for path in PRIVATE_FOR_UID_TIER:
            path.chmod(0o700)
        yield
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


@pytest.fixture(scope="module", params=[Tier.BWRAP, Tier.UID], ids=str)
def run(request, tmp_path_factory) -> Run:
    tier = request.param
    if tier is Tier.UID and container.available() is not None:
        pytest.skip(f"no container for the uid-only tier: {container.available()}")
    base = tmp_path_factory.mktemp(f"attacks-{tier}")
    subs, out, markers = base / "subs", base / "out", base / "markers"
    markers.mkdir()
    markers.chmod(0o1777)  # a survivor of any user writes here (in a container, at MARKERS_INSIDE)
    listener = Listener()
    params = {"@PORT@": str(listener.tcp.getsockname()[1]), "@UDP_PORT@": str(listener.udp.getsockname()[1]),
              "@HOSTS@": repr(listener.hosts()), "@ABSTRACT@": listener.abstract_name,
              "@MARKERS@": MARKERS_INSIDE if tier is Tier.UID else str(markers),
              "@OUT@": str(out.resolve()), "@REPO@": str(ROOT), "@LIMIT_MB@": str(MEMORY_MB)}
    notebooks = {student_of(name): notebook_for(name, params) for name in attacks_of(tier)}
    notebooks[BLANK] = json.loads((ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text(encoding="utf-8"))
    notebooks[VICTIM] = victim_notebook()
    for student, nb in notebooks.items():
        (subs / student).mkdir(parents=True)
        (subs / student / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(nb, indent=1), encoding="utf-8")
    before, inputs = tree_hashes(*(ROOT / folder for folder in WATCHED)), tree_hashes(subs)
    command = [sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out), "--workers", "2",
               *CLI_LIMITS]
    if tier is Tier.UID:
        command = container.no_namespaces(command, {base: str(base), markers: MARKERS_INSIDE})
    started = time.monotonic()
    with private_course_sources() if tier is Tier.UID else contextlib.nullcontext():
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        descendants = Descendants(process.pid)
        stdout, stderr = process.communicate(timeout=1800)
    seconds = time.monotonic() - started
    descendants.stop()
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    print(f"\nattack suite ({tier} tier): {len(notebooks)} notebooks graded in {seconds:.0f} s "
          f"({len(descendants.seen)} processes started)")
    outcome = Run(base, out, markers, result, seconds, listener, before, inputs, descendants, tier=tier)
    if (out / "grades.json").exists():
        outcome.rows = json.loads((out / "grades.json").read_text(encoding="utf-8"))["submissions"]
    yield outcome
    listener.close()


def test_the_batch_finishes_and_reports_every_submission(run):
    assert run.result.returncode in (0, 1), (
        f"`grade` exited with {run.result.returncode}:\n{run.result.stdout[-3000:]}\n{run.result.stderr[-3000:]}")
    students = sorted(row["student"] for row in run.rows)
    expected = sorted([student_of(name) for name in attacks_of(run.tier)] + [BLANK, VICTIM])
    assert students == expected, f"missing: {set(expected) - set(students)}, extra: {set(students) - set(expected)}"


def test_innocent_submissions_are_graded_as_usual(run):
    for student in (BLANK, VICTIM):
        row = run.row(student)
        assert row["status"] == "graded" and row["score"] == 0 and row["max_score"] == SPEC.max_score, row


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_gains_no_points(run, name):
    graded_in(run, name)
    row, blank = run.row(student_of(name)), run.row(BLANK)
    gained = [(test["name"], test["score"]) for test in row["tests"] if test["score"] > 0]
    assert row["score"] is None or row["score"] <= blank["score"], (
        f"{name} ({ATTACKS[name].what}) scored {row['score']} where the blank notebook scores {blank['score']}: "
        f"{gained}; flags: {row.get('flags')}")


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_graded_or_rejected_with_a_reason(run, name):
    graded_in(run, name)
    attack, row = ATTACKS[name], run.row(student_of(name))
    if attack.rejected:
        assert row["status"] == "rejected" and attack.rejected in (row["error"] or ""), (row["status"], row["error"])
    elif attack.may_reject and row["status"] == "rejected":
        assert row["error"].startswith(f"'{ASSIGNMENT}.ipynb' "), row["error"]
        assert any(advice in row["error"] for advice in ("ubmit", "Open", "Delete")), f"no advice: {row['error']}"
    else:  # "failed" would tell the instructor to grade it again, which gives the same result
        assert row["status"] == "graded", (name, row["status"], row["error"])
        assert row["max_score"] == SPEC.max_score, row["max_score"]
        assert [(test["name"], test["max_score"]) for test in row["tests"]] == [
            (test.grade_id, test.points) for test in SPEC.tests], row["tests"]


@pytest.mark.parametrize("name", sorted(name for name, attack in ATTACKS.items()
                                        if attack.edit and not attack.rejected))
def test_edited_test_cells_are_restored_before_they_run(run, name):
    graded_in(run, name)
    if ATTACKS[name].may_reject and run.row(student_of(name))["status"] == "rejected":
        return  # the other right outcome, checked by test_attack_is_graded_or_rejected_with_a_reason
    source = {cell["metadata"]["nbgrader"]["grade_id"]: "".join(cell["source"])
              for cell in json.loads(SPEC.notebook.read_text(encoding="utf-8"))["cells"]
              if cell["metadata"].get("nbgrader", {}).get("grade")}
    executed = {cell["metadata"]["nbgrader"]["grade_id"]: cell for cell in run.executed(name)["cells"]
                if "grade_id" in cell["metadata"].get("nbgrader", {})}
    for grade_id, text in source.items():
        cell = executed.get(grade_id)
        assert cell is not None and cell["cell_type"] == "code", f"{name}: test cell {grade_id} did not run as code"
        assert "".join(cell["source"]) == text, f"{name}: test cell {grade_id} ran with the student's source"
        texts = ["".join(output.get("text", "")) for output in cell["outputs"]]
        assert cell["outputs"] and FAKE_OUTPUT not in texts, f"{name}: test cell {grade_id} kept outputs it came with"


def test_solutions_and_other_submissions_are_out_of_reach(run):
    reports = run.reports("solutions_thief")
    assert reports, "the thief reported nothing: did its cell run?"
    report = reports[-1]
    assert report["searched"] > 0, report
    found, names = report["found"], report["names"]
    if run.tier is Tier.UID:  # the machine's own file system: it sees other users' files, never the grader's
        found, names = run.graders(found), run.graders([name for name in names if not name.endswith(".ipynb")])
    assert found == [], f"the kernel could read solutions, hidden tests or another submission: {report}"
    assert names == [], f"the kernel could see grading files: {names}"


def test_grade_files_are_out_of_reach(run):
    reports = run.reports("grades_forger")
    assert reports, "the forger reported nothing: did its cell run?"
    assert reports[-1]["written"] == [], f"the kernel overwrote grading files: {reports[-1]['written']}"
    seen = reports[-1]["seen"]
    if run.tier is Tier.UID:  # the machine's own file system: it sees other users' files, never the grader's
        seen = run.graders([path for path in seen if not path.endswith(".ipynb")])
    assert seen == [], f"the kernel could see grading files: {seen}"
    forged = [str(path) for path in run.out.rglob("*") if path.is_file() and b"KDD-FORGED" in path.read_bytes()]
    assert forged == [], f"forged content in the output folder: {forged}"


def test_grades_and_gradebook_are_the_graders(run):
    graded = [row for row in run.rows if row["status"] == "graded"]
    for row in graded:
        assert row["score"] == sum(test["score"] for test in row["tests"]), row
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{run.out / 'gradebook.db'}") as gradebook:
        for row in graded:
            recorded = gradebook.find_submission(ASSIGNMENT, row["student"]).score
            assert recorded == row["score"], f"gradebook: {row['student']} {recorded}, grades.json: {row['score']}"


def socket_folder_files(pattern: str) -> list[Path]:
    """Files matching `pattern` in kernels' socket folders (worker.py: system temp folder or /dev/shm, or
    the folder of a worker's kernel template)."""
    tops = (Path(tempfile.gettempdir()), Path("/dev/shm"))
    return [path for top in tops for folder in ("kdd-ipc-*", "kdd-template-*/kdd-ipc-*")
            for path in top.glob(f"{folder}/{pattern}")]


def test_memory_limit_holds_for_shared_memory(run):
    reports = run.reports("shared_memory_bomb")
    assert reports, "the memory bomb reported nothing: did its cell run?"
    held = max(report["held_mb"] for report in reports)
    assert held <= MEMORY_MB, f"the kernel held {held} MB of shared memory; its limit is {MEMORY_MB} MB"


def test_kernel_cannot_fill_the_graders_disk(run):
    reports = [report for report in run.reports("disk_fill") if "written_mb" in report]
    assert reports, "the disk filler reported nothing: did its cell run?"
    written, folder = reports[-1]["written_mb"], reports[-1]["folder"]
    if bwrap.is_root():  # the socket folder is a tiny tmpfs of its own
        assert written <= DISK_MB, (
            f"the kernel wrote {written} MB into {folder}, a folder on the grader's disk "
            f"(each file may have {DISK_MB} MB, but nothing limits how many)")
    else:  # no mounts without root: the folder must at least be in memory, which the job's end frees
        assert folder.startswith("/dev/shm/"), f"the kernel wrote {written} MB into {folder}, on the grader's disk"
    left = [str(path) for path in socket_folder_files("kdd-attack-fill-*")]
    assert left == [], f"files the kernel wrote are still there: {left}"


def test_network_is_unreachable(run):
    reports = run.reports("network")
    assert reports, "the network attack reported nothing: did its cell run?"
    if run.tier is Tier.UID:  # no network namespace: the instructor must be told instead
        assert "network is NOT cut" in run.result.stderr, "the uid-only tier must say that the network is open"
        return
    assert reports[-1]["reached"] == [] and run.listener.reached == [], (reports, run.listener.reached)


def test_nothing_outlives_the_kernel(run):
    if bwrap.is_root():  # the watch must have seen the kernels, or it proves nothing
        assert set(run.descendants.seen.values()) & set(SANDBOX_UIDS), "no kernel of the run was seen"
    assert run.descendants.alive() == [], f"processes of the run still alive after `grade`: {run.descendants.alive()}"
    time.sleep(3)  # a detached writer tries every 0.5 s: give a survivor the chance to show itself
    written = sorted(str(path) for path in [*run.markers.rglob("*"), *run.out.rglob("kdd-attack-marker*"),
                                            *socket_folder_files("kdd-attack-marker*")])
    assert written == [], f"a process started by a submission wrote on the grader's disk: {written}"


def test_files_outside_the_output_are_unchanged(run):
    after = tree_hashes(*(ROOT / folder for folder in WATCHED))
    changed = sorted(path for path in set(run.before) | set(after) if run.before.get(path) != after.get(path))
    assert changed == [], f"grading changed files outside its output folder: {changed}"
    assert tree_hashes(run.base / "subs") == run.inputs, "grading changed the submissions it was given"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.csp: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        attributes = dict(attrs)
        if tag == "meta" and attributes.get("http-equiv") == "Content-Security-Policy":
            self.csp.append(attributes.get("content") or "")
        if tag == "a":
            self.links.append(attributes.get("href") or "")


PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "p", "strong", "table", "thead", "tbody", "tr",
             "th", "td", "code", "footer", "a"}
BOOK_LINKS = set(Course(ROOT).task_links(SPEC).values())  # the only links a page may hold: to the tasks in the book


def test_feedback_pages_run_nothing_a_student_wrote(run):
    pages = sorted((run.out / "feedback").rglob("*.html"))
    assert len(pages) == len(run.rows), f"{len(pages)} feedback pages for {len(run.rows)} students"
    for page in pages:
        parser = _Tags()
        parser.feed(page.read_text(encoding="utf-8"))
        assert parser.tags <= PAGE_TAGS, f"{page} contains tags a student wrote: {parser.tags - PAGE_TAGS}"
        assert parser.csp and "default-src 'none'" in parser.csp[0], f"{page} does not forbid scripts"
        assert set(parser.links) <= BOOK_LINKS, f"{page} links {set(parser.links) - BOOK_LINKS}"
    html_page = [page for page in pages if "onerror" in page.parent.name]
    assert len(html_page) == 1 and "&lt;img src=x onerror=alert(1)&gt;" in html_page[0].read_text(encoding="utf-8"), (
        f"the student named {HTML_STUDENT!r} should get a page that shows the name as text: {html_page}")


def _decodings(text: str) -> list[str]:
    """The text, and whatever base64 or hex inside it decodes to."""
    found = [text]
    for token in re.findall(r"[A-Za-z0-9+/=]{16,}", text):
        for decode in (lambda t: base64.b64decode(t + "=" * (-len(t) % 4)), bytes.fromhex):
            try:
                found.append(decode(token).decode("utf-8", "replace"))
            except (binascii.Error, ValueError):
                pass
    return found


def test_feedback_never_reveals_hidden_tests(run):
    hidden = [line for line in SPEC.hidden_lines if len(line) >= 20]
    shown = [test["message"] for row in run.rows for test in row["tests"]] + [row["error"] or "" for row in run.rows]
    shown += [page.read_text(encoding="utf-8") for page in (run.out / "feedback").rglob("*.html")]
    leaks = {line for text in shown for decoded in _decodings(text) for line in hidden if line in decoded}
    assert not leaks, f"feedback reveals hidden test lines (some encoded): {sorted(leaks)[:5]}"


def test_output_flood_is_capped(run):
    size = run.executed_path("output_flood").stat().st_size
    assert size < 5 * 2**20, f"the executed notebook kept {size / 2**20:.0f} MB of a submission's output"
    assert (run.out / "grades.json").stat().st_size < 2**20, "grades.json grew with a submission's output"


def test_values_computed_for_another_submission_score_nothing(run, tmp_path):
    """The victim's probe seed leaked (printed into its feedback, say) and someone with a working solution
    computed the reference values for it: a notebook that prints those values gets another seed."""
    if run.tier is not Tier.BWRAP:
        pytest.skip("the replay does not depend on the tier: it is graded once, after the bwrap tier's run")
    from tests.autograder.attacks import PROBE_REPLAY

    from autograder import trusted

    victim_sha = hashlib.sha256((run.base / "subs" / VICTIM / f"{ASSIGNMENT}.ipynb").read_bytes()).hexdigest()
    current = trusted.plan(ASSIGNMENT, SPEC.source_sha256, ROOT / ".grading")
    current.give([victim_sha])  # the victim has its number already: this only reads it
    stolen = current.expected_for(victim_sha)
    assert stolen and set(stolen) == set(trusted.load(ASSIGNMENT).tasks), "no reference values for the victim"
    nb = json.loads((ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text(encoding="utf-8"))
    answer = next(cell for cell in nb["cells"] if cell["metadata"].get("nbgrader", {}).get("solution"))
    answer["source"] = PROBE_REPLAY.replace("@STOLEN@", repr(stolen))
    (tmp_path / "subs" / "replayer").mkdir(parents=True)
    (tmp_path / "subs" / "replayer" / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", str(tmp_path / "subs"), "--out",
                           str(tmp_path / "out"), *CLI_LIMITS], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [row] = json.loads((tmp_path / "out" / "grades.json").read_text(encoding="utf-8"))["submissions"]
    [executed] = (tmp_path / "out" / "results").glob("*.ipynb")
    printed = "".join("".join(output.get("text", "")) for cell in json.loads(executed.read_text())["cells"]
                      if trusted.METADATA in cell.get("metadata", {}) for output in cell.get("outputs", []))
    assert json.dumps(stolen["in_fit"]) in printed, "the replay never reached the grader: the test proves nothing"
    assert row["score"] <= run.row(BLANK)["score"], f"replayed values scored {row['score']}: {row['tests']}"
    assert len(row["flags"]) == len(SPEC.tests), f"every replayed task must be flagged: {row['flags']}"


# --- every attack through Gradescope's run_autograder, in containers without namespaces ---------------------

GRADESCOPE_ROOT = container.AUTOGRADER  # the container's /autograder
REFERENCE = "reference"
# One attack of each kind the issue names (a container costs two kernels: the whole suite already ran above in
# the uid-only tier, through the same `grade` code; these attack what only Gradescope's layout adds: the bundle
# in /autograder/source, results.json, the container's own processes)
GRADESCOPE_ATTACKS = ("solutions_thief", "grades_forger", "trusted_probe_spoofed", "input_transformer",
                      "kill_everything", "detached_writer", "fork_bomb")


@dataclass
class Container:
    """One Gradescope container that graded one submission."""

    root: Path  # on this machine: what the container saw as GRADESCOPE_ROOT
    markers: Path
    done: subprocess.CompletedProcess
    results: dict | None

    def reports(self) -> list[dict]:
        """What the attack printed about itself (`KDD-ATTACK-REPORT {...}` lines), in order."""
        found = []
        for path in (self.root / "graded" / "results").glob("*.ipynb"):
            for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
                for output in cell.get("outputs", []):
                    text = "".join(output.get("text", ""))
                    found += [json.loads(line.split(" ", 1)[1]) for line in text.splitlines()
                              if line.startswith(REPORT)]
        return found


def grade_in_a_container(bundle: Path, base: Path, name: str, nb: dict) -> Container:
    root, markers = base / name / "autograder", base / name / "markers"
    container.unpack_bundle(bundle, root)
    markers.mkdir()
    markers.chmod(0o1777)
    (root / "submission").mkdir()
    (root / "submission" / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(nb, indent=1), encoding="utf-8")
    command = container.no_namespaces(["bash", f"{GRADESCOPE_ROOT}/source/run_autograder"],
                                      {root: GRADESCOPE_ROOT, markers: MARKERS_INSIDE})
    env = {**os.environ, "AUTOGRADER_ROOT": GRADESCOPE_ROOT, "AUTOGRADER_PYTHON": sys.executable}
    done = subprocess.run(command, cwd="/", env=env, capture_output=True, text=True, timeout=1800)
    results = root / "results" / "results.json"
    return Container(root, markers, done, json.loads(results.read_text()) if results.exists() else None)


@pytest.fixture(scope="module")
def gradescope(tmp_path_factory) -> dict[str, Container]:
    """The reference, the blank notebook and every attack, each graded by run_autograder in a container of its
    own whose bwrap cannot create namespaces (as in Gradescope's Docker), a few containers at a time."""
    if container.available() is not None:
        pytest.skip(f"no container here: {container.available()}")
    from autograder.gradescope import build

    base = tmp_path_factory.mktemp("attacks-gradescope")
    bundle = build(Course(ROOT), ASSIGNMENT, base / "autograder.zip")
    listener = Listener()
    params = {"@PORT@": str(listener.tcp.getsockname()[1]), "@UDP_PORT@": str(listener.udp.getsockname()[1]),
              "@HOSTS@": repr(listener.hosts()), "@ABSTRACT@": listener.abstract_name, "@MARKERS@": MARKERS_INSIDE,
              "@OUT@": f"{GRADESCOPE_ROOT}/graded", "@REPO@": f"{GRADESCOPE_ROOT}/source", "@LIMIT_MB@": "2048"}
    notebooks = {name: notebook_for(name, params) for name in GRADESCOPE_ATTACKS}
    notebooks[BLANK] = json.loads((ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text(encoding="utf-8"))
    notebooks[REFERENCE] = json.loads(SPEC.notebook.read_text(encoding="utf-8"))
    started = time.monotonic()
    # at least two containers at a time (much of it waits for timeouts); the repository's solutions are on this
    # machine, not in Gradescope's
    with ThreadPoolExecutor(max(2, (os.cpu_count() or 1) // 4)) as pool, private_course_sources():
        runs = dict(zip(notebooks, pool.map(lambda item: grade_in_a_container(bundle, base, *item), notebooks.items())))
    print(f"\nattack suite (Gradescope, no namespaces): {len(runs)} containers in {time.monotonic() - started:.0f} s")
    yield runs
    listener.close()


def test_gradescope_without_namespaces_scores_the_reference_full_and_the_blank_zero(gradescope):
    reference, blank = gradescope[REFERENCE], gradescope[BLANK]
    assert reference.results and reference.results["score"] == SPEC.max_score, reference.done.stdout[-3000:]
    assert blank.results and blank.results["score"] == 0, blank.done.stdout[-3000:]
    assert "Sandbox tier 'uid'" in blank.done.stdout and "network is NOT cut" in blank.done.stdout, (
        f"the instructor's log must name the tier and say the network is open: {blank.done.stdout[-2000:]}")


@pytest.mark.parametrize("name", GRADESCOPE_ATTACKS)
def test_gradescope_attack_gains_no_points(gradescope, name):
    ran, blank = gradescope[name], gradescope[BLANK]
    assert ran.results is not None, f"{name}: no results.json: {ran.done.stdout[-2000:]} {ran.done.stderr[-2000:]}"
    gained = [(test["name"], test["score"]) for test in ran.results["tests"] if test["score"] > 0]
    assert ran.results["score"] <= blank.results["score"], (
        f"{name} ({ATTACKS[name].what}) scored {ran.results['score']} in Gradescope's container where the blank "
        f"notebook scores {blank.results['score']}: {gained}")


def test_gradescope_grader_files_are_out_of_the_thiefs_and_forgers_reach(gradescope):
    [*_, stolen] = gradescope["solutions_thief"].reports() or [{"found": ["(no report: did the cell run?)"]}]
    [*_, forged] = gradescope["grades_forger"].reports() or [{"written": ["(no report: did the cell run?)"]}]
    graders = (f"{GRADESCOPE_ROOT}/source/", f"{GRADESCOPE_ROOT}/graded/", f"{GRADESCOPE_ROOT}/results/")
    assert [path for path in stolen["found"] if path.startswith(graders) or path.endswith(".ipynb")
            and not path.startswith(f"{GRADESCOPE_ROOT}/submission/")] == [], f"the thief read: {stolen}"
    assert forged["written"] == [], f"the forger overwrote: {forged['written']}"


def test_gradescope_nothing_outlives_a_container(gradescope):
    time.sleep(3)  # a detached writer tries every 0.5 s: give a survivor the chance to show itself
    written = sorted(str(path) for ran in gradescope.values() for path in ran.markers.rglob("*"))
    assert written == [], f"a process started by a submission wrote after its container's grading: {written}"
