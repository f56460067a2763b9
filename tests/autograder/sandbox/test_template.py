"""Kernels forked from a worker's template (issue 19, autograder/zygote.py): nothing carries over.

Each worker imports TensorFlow once, in a template process, and forks every kernel from it. These
tests grade, through `python -m autograder grade --workers 1` (so every kernel comes from the same
template, one after the other), submissions that each first look for what an earlier one may have
left and then leave everything they can: files in /tmp, HOME, /dev/shm and the template's folder,
System V and POSIX IPC objects, detached processes, listening sockets, monkeypatched modules,
variables, an environment variable, and signals to every process they can see. Each must find
nothing, draw its own random numbers, and the template must outlive them all. A second run shows
that forked and fresh kernels give byte-identical grades and feedback.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.exercises import catalogue
from tests import ROOT

from autograder.sandbox import launcher, bwrap, zygote
from autograder.limits import Limits
from autograder.sandbox.tiers import Tier
from autograder.sandbox.template import Template

ASSIGNMENT = "rmse_metric"
REPORT = "KDD-TEMPLATE-REPORT"
LEAVERS = 4
FORKING = Template.usable(Tier.BWRAP, "forked", Limits().memory_mb) and bwrap.unavailable() is None
needs_forking = pytest.mark.skipif(not FORKING, reason="kernels are forked only in the bwrap tier as root with "
                                                       "memory cgroups")

# A first cell, before the exercise imports or seeds anything: a forked kernel starts with TensorFlow
# imported, and must draw random numbers of its own (numpy's and Python's global generators).
FIRST = ("import sys\nKDD_FORKED = 'tensorflow' in sys.modules\nimport numpy, random\n"
         "KDD_DRAW = (float(numpy.random.rand()), random.random())\n")

# The answer to the first task: look for an earlier kernel's traces, then leave as many as possible.
LEAVER = r'''
import builtins, ctypes, ctypes.util, glob, json, os, signal, socket, subprocess, sys, time
import numpy, numpy.testing
from ipykernel.connect import get_connection_file

TAG, KEY, PORT = "@TAG@", 0x4B4444, 47123
libc = ctypes.CDLL(None, use_errno=True)
rt = ctypes.CDLL(ctypes.util.find_library("rt") or "librt.so.1", use_errno=True)
rt.mq_open.restype = ctypes.c_int
folder = os.path.dirname(get_connection_file())  # this job's socket folder; its parent is the template's

found = [path for pattern in ("@TMP@/kdd-left-*", "@HOME@/kdd-left-*", "@SHM@/kdd-left-*",
                              os.path.join(folder, "..", "kdd-left-*"), os.path.join(folder, "kdd-left-*"))
         for path in glob.glob(pattern)]
for name, present in (("System V shared memory", libc.shmget(KEY, 0, 0) != -1),
                      ("System V message queue", libc.msgget(KEY, 0) != -1),
                      ("System V semaphore", libc.semget(KEY, 0, 0) != -1),
                      ("POSIX message queue", rt.mq_open(b"/kdd-left", os.O_RDONLY) != -1),
                      ("patched numpy.testing", numpy.testing.assert_allclose.__name__ != "assert_allclose"),
                      ("builtins", hasattr(builtins, "KDD_LEFT")), ("sys.modules", "kdd_left" in sys.modules),
                      ("environment", "KDD_LEFT" in os.environ)):
    if present:
        found.append(name)
visible = sorted(int(pid) for pid in os.listdir("/proc") if pid.isdigit())
for pid in visible:
    try:
        command = open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        continue
    if b"kdd-left" in command or b"sleep" in command:
        found.append(f"process {pid}: {command[:60]!r}")
for family, address in ((socket.AF_UNIX, "\0kdd-left"), (socket.AF_INET, ("127.0.0.1", PORT))):
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.connect(address)
        found.append(f"a listening socket {address!r}")
    except OSError:
        pass
    finally:
        probe.close()

for top in ("@TMP@", "@HOME@", "@SHM@", folder):
    with open(f"{top}/kdd-left-{TAG}", "w") as handle:
        handle.write(TAG)
try:
    with open(os.path.join(folder, "..", f"kdd-left-{TAG}"), "w") as handle:
        handle.write(TAG)
    template_folder_written = True
except OSError:
    template_folder_written = False
IPC_CREAT = 0o1000
libc.shmget(KEY, 4096, IPC_CREAT | 0o666)
libc.msgget(KEY, IPC_CREAT | 0o666)
libc.semget(KEY, 1, IPC_CREAT | 0o666)
rt.mq_open(b"/kdd-left", os.O_CREAT | os.O_RDWR, 0o666, None)
subprocess.Popen(["sleep", "600"], start_new_session=True)
subprocess.Popen([sys.executable, "-c", "import os, time\nwhile True:\n    open('@TMP@/kdd-left-daemon', 'w')"
                  "\n    time.sleep(0.5)", "kdd-left"], start_new_session=True)
KDD_SERVERS = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), socket.create_server(("127.0.0.1", PORT))]
KDD_SERVERS[0].bind("\0kdd-left")
for server in KDD_SERVERS:
    server.listen()
numpy.testing.assert_allclose = lambda *args, **kwargs: None
builtins.KDD_LEFT = TAG
sys.modules["kdd_left"] = type(sys)("kdd_left")
os.environ["KDD_LEFT"] = TAG
signalled, read = [], []
for pid in visible:
    if pid == os.getpid():
        continue
    try:
        os.kill(pid, signal.SIGKILL)
        signalled.append(pid)
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/mem", "rb") as handle:
            read.append(pid)
    except OSError:
        pass
print(REPORT + " " + json.dumps({"tag": TAG, "found": found, "forked": KDD_FORKED, "visible": visible,
                                 "signalled": signalled, "read_memory": read, "uid": os.getuid(),
                                 "template_folder_written": template_folder_written,
                                 "draw": KDD_DRAW}), flush=True)
'''.replace("REPORT", repr(REPORT))


def leaver(tag: str) -> dict:
    nb = catalogue.submission(ASSIGNMENT, None)  # blank, but for the first answer
    answer = next(cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("solution"))
    answer.source = LEAVER.replace("@TAG@", tag)
    for token, folder in (("@TMP@", bwrap.TMP), ("@HOME@", bwrap.HOME), ("@SHM@", bwrap.SHM)):
        answer.source = answer.source.replace(token, folder)  # the kernel's private folders
    nb.cells.insert(0, {"cell_type": "code", "id": "kdd-first", "metadata": {}, "execution_count": None,
                        "outputs": [], "source": FIRST})
    return nb


def grade(subs: Path, out: Path, *options: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out), *options]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def write(folder: Path, notebooks: dict[str, dict]) -> Path:
    for student, nb in notebooks.items():
        (folder / student).mkdir(parents=True)
        (folder / student / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def leavers(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path, list[dict]]:
    base = tmp_path_factory.mktemp("template")
    subs = write(base / "subs", {f"leaver-{number}": leaver(f"t{number}") for number in range(LEAVERS)})
    result = grade(subs, base / "out", "--workers", "1")
    reports = []
    for path in sorted((base / "out" / "results").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            for output in cell.get("outputs", []):
                reports += [json.loads(line.split(" ", 1)[1]) for line in "".join(output.get("text", "")).splitlines()
                            if line.startswith(REPORT)]
    return result, base / "out", reports


@needs_forking
def test_every_kernel_of_a_worker_is_forked_from_its_template(leavers):
    result, out, reports = leavers
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(reports) == LEAVERS, f"expected a report from each of {LEAVERS} kernels: {reports}"
    assert all(report["forked"] for report in reports), "a kernel started without TensorFlow imported"
    logs = "".join(path.read_text(encoding="utf-8", errors="replace") for path in (out / ".work" / "logs").glob("*"))
    assert logs.count("kernel template ready") == 1, "the template was started more than once: did a kernel end it?"
    folder = Path(re.search(r"kernel template ready in \S+ s in (\S+)", logs).group(1))
    assert not folder.exists(), f"the template's folder {folder} outlived its worker"


@needs_forking
def test_nothing_a_kernel_leaves_reaches_the_next(leavers):
    _, _, reports = leavers
    for report in reports:
        assert report["found"] == [], f"kernel {report['tag']} found what an earlier kernel left: {report['found']}"
        assert report["template_folder_written"] is False, "a kernel wrote into the template's folder"


@needs_forking
def test_a_kernel_sees_signals_and_reads_no_process_but_its_own(leavers):
    _, _, reports = leavers
    for report in reports:
        assert report["uid"] in range(bwrap.UID_BASE, bwrap.UID_BASE + bwrap.UID_COUNT)
        assert report["signalled"] == [] and report["read_memory"] == [], report
        assert len(report["visible"]) <= 2, f"a kernel sees more than its namespace's PID 1 and itself: {report}"


@needs_forking
def test_every_kernel_draws_its_own_random_numbers(leavers):
    _, _, reports = leavers
    for generator, name in enumerate(("numpy", "random")):
        draws = [report["draw"][generator] for report in reports]
        assert len(set(draws)) == len(draws), f"kernels forked from one template drew the same {name} numbers: {draws}"


@pytest.mark.slow
@needs_forking
def test_forked_and_fresh_kernels_give_identical_grades_and_feedback(tmp_path):
    wrong = next(entry for entry in catalogue.load_catalogue(ASSIGNMENT) if entry.kind == "wrong")
    reference = catalogue.reference_answers(ASSIGNMENT)
    subs = write(tmp_path / "subs", {
        "reference": catalogue.submission(ASSIGNMENT, reference),
        "wrong": catalogue.submission(ASSIGNMENT, {**reference, **wrong.answers}),
        "blank": catalogue.submission(ASSIGNMENT, None)})
    outputs = {}
    for mode, options in (("forked", ()), ("fresh", ("--fresh-kernels",))):
        result = grade(subs, tmp_path / mode, "--workers", "2", *options)
        assert result.returncode == 0, result.stdout + result.stderr
        outputs[mode] = {str(path.relative_to(tmp_path / mode)): path.read_bytes()
                         for pattern in ("grades.json", "grades.csv", "feedback/**/*.html")
                         for path in (tmp_path / mode).glob(pattern)}
    assert sorted(outputs["forked"]) == sorted(outputs["fresh"]) and len(outputs["forked"]) == 5
    different = [name for name in outputs["forked"] if outputs["forked"][name] != outputs["fresh"][name]]
    assert different == [], f"forked and fresh kernels wrote different {different}"
    scores = {row["student"]: row["score"] for row in json.loads(outputs["forked"]["grades.json"])["submissions"]}
    assert scores["reference"] == 8 and scores["blank"] == 0 and scores["wrong"] < 8, scores


def test_the_launcher_starts_the_kernel_itself_when_the_template_cannot(tmp_path):
    done = subprocess.run([sys.executable, launcher.__file__, "--memory-mb", "512", "--file-mb", "8",
                           "--threads", "1", "--pidfile", str(tmp_path / "kernel.pid"),
                           "--template", str(tmp_path / "no-template.sock"), "--template-request", "{}",
                           "--", sys.executable, "-c", "print('started afresh')"],
                          capture_output=True, text=True, cwd="/", env={"PATH": os.environ["PATH"]})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "started afresh"
    assert "the template did not start the kernel" in done.stderr


def test_the_template_keeps_every_mount_below_a_folder_it_replaces_korean_names_too():
    top = zygote.TMP  # the folder replaced; the others are synthetic mount points of a sandbox
    lines = [f"36 25 0:32 / {top} rw,nosuid,nodev - tmpfs tmpfs rw",
             f"37 36 8:1 /srv/과제/.venv {top}/과제/.venv ro,nosuid - ext4 sda1 ro",
             f"38 37 8:1 /srv/x {top}/과제/.venv/inner ro - ext4 sda1 ro",
             f"39 36 0:40 / {top}/with\\040space rw - tmpfs kdd-ipc rw",
             f"40 25 0:41 / {top}foo rw - tmpfs tmpfs rw"]
    assert zygote.mounts_below(top, lines) == [f"{top}/with space", f"{top}/과제/.venv"]
