"""Sandbox tiers (autograder/tiers.py): which one grading picks, and what the uid-only tier guarantees.

The uid-only tier is for root without namespaces (Gradescope, Docker, some CI runners). Its pieces are
tested here one by one with real processes of a reserved sandbox uid; `no_namespaces` (a `bwrap` that
fails as in Docker, a private /tmp) grades a tiny course end to end through it. The attack suite runs
through every tier in tests/autograder/test_attacks.py.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from tests.autograder.fixtures import REFERENCE, make_course, notebook, wait_until, write
from tests.autograder import container
from tests import ROOT

from autograder.sandbox import bwrap, tiers
from autograder.course import Course
from autograder.grade import grade, result_key
from autograder.model import UsageError
from autograder.limits import Limits
from autograder.sandbox.tiers import Tier
from autograder.sandbox.watchdog import processes_of

needs_root = pytest.mark.skipif(not bwrap.is_root() or shutil.which("setpriv") is None,
                                reason="processes of a sandbox uid need root and setpriv")
needs_container = pytest.mark.skipif(container.available() is not None, reason=f"{container.available()}")


@pytest.fixture
def uid():
    """A sandbox uid reserved for this test process, with nothing of it left before or after."""
    if not bwrap.is_root():
        pytest.skip("sandbox uids are root's to hand out")
    value = bwrap.claim_uid()
    tiers.end_job(value)
    yield value
    tiers.end_job(value)


@pytest.fixture
def shared_tmp():
    """A folder in the machine's /tmp that anyone may traverse (as a container's /autograder is)."""
    folder = Path(tempfile.mkdtemp(prefix="kdd-tier-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def as_uid(uid: int, script: str) -> subprocess.CompletedProcess:
    return subprocess.run([*tiers.drop_to(uid), "--", "/bin/sh", "-c", script], cwd="/", capture_output=True,
                          text=True, timeout=60)


# --- which tier -------------------------------------------------------------------------------------------

def test_bwrap_is_chosen_where_it_works(monkeypatch):
    monkeypatch.setattr(bwrap, "unavailable", lambda: None)
    monkeypatch.setattr(tiers, "uid_unavailable", lambda: None)
    assert tiers.choose() is Tier.BWRAP, "bubblewrap is the strongest tier"


def test_the_uid_tier_is_chosen_where_bwrap_cannot_create_namespaces(monkeypatch):
    monkeypatch.setattr(bwrap, "unavailable", lambda: "bwrap could not create the sandbox (No permissions)")
    monkeypatch.setattr(tiers, "uid_unavailable", lambda: None)
    assert tiers.choose() is Tier.UID


def test_without_namespaces_and_without_root_grading_is_refused_unless_unsafe(monkeypatch):
    monkeypatch.setattr(bwrap, "unavailable", lambda: "bwrap could not create the sandbox (No permissions)")
    monkeypatch.setattr(tiers, "uid_unavailable", lambda: "it needs root (to give each kernel a uid of its own)")
    with pytest.raises(UsageError) as refused:
        tiers.choose()
    assert "No permissions" in str(refused.value) and "needs root" in str(refused.value), str(refused.value)
    assert "--unsafe" in str(refused.value), "the refusal must say how to grade anyway"
    assert tiers.choose(unsafe=True) is Tier.UNSAFE


def test_a_bwrap_that_fails_as_in_docker_makes_the_bwrap_tier_unavailable(tmp_path, monkeypatch):
    fake = tmp_path / "bwrap"
    fake.write_text(f"#!/bin/sh\necho \"{container.DOCKER_BWRAP_ERROR}\" >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    bwrap.unavailable.cache_clear()
    try:
        problem = bwrap.unavailable()
    finally:
        bwrap.unavailable.cache_clear()
    assert problem and "No permissions to creating new namespace" in problem, problem


def test_results_of_different_tiers_are_cached_apart():
    spec = Course(ROOT).spec("rmse_metric")
    keys = {result_key("0" * 64, spec, Limits(), tier, "check") for tier in Tier}
    assert len(keys) == len(Tier), "a result graded in one tier must not be reused by a run in another"


# --- the kernel's process ---------------------------------------------------------------------------------

PROBE = textwrap.dedent("""
    import json, os, sys
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    seen = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "cwd": os.getcwd(),
            "caps": [status[name].strip() for name in ("CapPrm", "CapEff", "CapInh", "CapBnd", "CapAmb")],
            "no_new_privs": status["NoNewPrivs"].strip(), "seccomp": status["Seccomp"].strip(),
            "env": sorted(os.environ),
            "home": os.environ["HOME"], "tmpdir": os.environ["TMPDIR"]}
    try:
        os.listdir(sys.argv[1])
        seen["private folder"] = "listed"
    except OSError as error:
        seen["private folder"] = type(error).__name__
    try:
        os.kill(int(sys.argv[2]), 0)
        seen["signal the grader"] = "sent"
    except OSError as error:
        seen["signal the grader"] = type(error).__name__
    print(json.dumps(seen))
""")


@needs_container
def test_a_uid_tier_kernel_is_an_unprivileged_user_of_its_own(uid, shared_tmp, monkeypatch):
    monkeypatch.setenv("KDD_SECRET_OF_THE_GRADER", "x")
    home, private = shared_tmp / "home", shared_tmp / "private"
    home.mkdir(mode=0o700)
    os.chown(home, uid, uid)
    private.mkdir(mode=0o700)
    command, env = tiers.command([sys.executable, "-c", PROBE, str(private), str(os.getpid())], uid=uid, home=home,
                                 inherited=dict(os.environ), env={"OMP_NUM_THREADS": "1"})
    done = subprocess.run(container.no_namespaces(command, {shared_tmp: str(shared_tmp)}, cwd=str(home)), env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert (seen["uid"], seen["gid"], seen["groups"]) == (uid, uid, []), "a uid and gid of its own, no groups"
    assert seen["caps"] == ["0000000000000000"] * 5 and seen["no_new_privs"] == "1", seen
    assert seen["seccomp"] == "2", "the kernel must run under the seccomp filter (sandbox_init.py)"
    assert seen["cwd"] == seen["home"] == seen["tmpdir"] == str(home), seen
    assert "KDD_SECRET_OF_THE_GRADER" not in seen["env"] and "PYTHONPATH" not in seen["env"], seen["env"]
    assert seen["private folder"] == "PermissionError", "the kernel listed a folder private to root"
    assert seen["signal the grader"] == "PermissionError", "the kernel may signal the grader"


@needs_root
def test_every_process_of_the_kernel_uid_is_killed_after_the_job(uid):
    started = as_uid(uid, "setsid sh -c 'trap \"\" HUP TERM; (sleep 61.75 &); exec sleep 61.5' "
                          "</dev/null >/dev/null 2>&1 &")
    assert started.returncode == 0, started.stderr
    wait_until(lambda: len(processes_of(uid)) >= 2, "the detached sleepers to start")
    tiers.end_job(uid)
    assert processes_of(uid) == [], "a detached process of the kernel's uid outlived the job"


SUBREAPER = textwrap.dedent("""
    import json, subprocess, sys
    from autograder.sandbox import tiers
    from autograder.sandbox.watchdog import processes_of
    uid = int(sys.argv[1])
    tiers.become_subreaper()  # as a worker does: the orphans of its kernels are its to reap
    forker = subprocess.Popen([*tiers.drop_to(uid), "--", "/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8; do "
                               "sleep 61.25 & done; exec sleep 61.5"])
    while len(processes_of(uid)) < 9:
        pass
    tiers.end_job(uid)
    print(json.dumps(processes_of(uid, zombies=True)))
""")


@needs_root
def test_nothing_of_the_kernel_uid_counts_towards_its_process_limit_after_the_job(uid):
    """A dead process still counts towards its uid's process limit until it is reaped; a worker adopts
    its kernels' orphans, so that no fork bomb can leave the next kernel of that uid unable to start."""
    done = subprocess.run([sys.executable, "-c", SUBREAPER, str(uid)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    left = json.loads(done.stdout)
    assert left == [], f"processes of the kernel's uid, dead or alive, outlived the job: {left}"


@needs_root
def test_files_the_kernel_uid_left_in_shared_temporary_folders_are_removed(uid, shared_tmp):
    shared_tmp.chmod(0o1777)  # a folder below /tmp that anyone may write, like /tmp/.X11-unix
    # a file and a folder at the top of two of the machine's shared temporary folders (tiers.SHARED_TEMP)
    left_at_top = [Path(tiers.SHARED_TEMP[index]) / f"kdd-tier-test-{uid}" for index in (0, 2)]
    made = as_uid(uid, f"touch {left_at_top[0]}; mkdir {left_at_top[1]}; touch {shared_tmp}/left-by-the-kernel")
    assert made.returncode == 0, made.stderr
    tiers.end_job(uid)
    left = [path for path in (*left_at_top, shared_tmp / "left-by-the-kernel") if path.exists()]
    assert left == [], f"files of the kernel's uid outlived the job: {left}"
    assert shared_tmp.is_dir(), "a folder of another user was removed"


@needs_root
@pytest.mark.skipif(shutil.which("ipcmk") is None, reason="ipcmk (util-linux) is not installed")
def test_system_v_shared_memory_of_the_kernel_uid_is_removed_after_the_job(uid):
    def segments() -> list[str]:
        lines = Path("/proc/sysvipc/shm").read_text().splitlines()
        header = lines[0].split()
        return [line for line in lines[1:] if dict(zip(header, line.split()))["uid"] == str(uid)]

    made = as_uid(uid, "ipcmk -M 65536")
    assert made.returncode == 0 and segments(), made.stderr
    tiers.end_job(uid)
    assert segments() == [], "System V shared memory of the kernel's uid outlived the job"


@needs_root
@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="needs /usr/bin/python3, which any user can run")
def test_without_a_cgroup_the_watchdog_counts_and_kills_every_process_of_the_uid(uid):
    """In the uid-only tier a double fork leaves the kernel's process tree; in a container without
    cgroups only the watchdog limits memory, so it must count (and kill) every process of the uid."""
    from autograder.sandbox import watchdog

    hog = "import mmap, time\nheld = mmap.mmap(-1, 300 * 2**20)\nheld.write(bytes(300 * 2**20))\ntime.sleep(60)"
    started = as_uid(uid, f"setsid /usr/bin/python3 -c '{hog}' </dev/null >/dev/null 2>&1 &")
    assert started.returncode == 0, started.stderr
    kernel = subprocess.Popen([*tiers.drop_to(uid), "--", "sleep", "60"], start_new_session=True)
    try:
        wait_until(lambda: watchdog.usage(processes_of(uid))[0] > 250 * 2**20, "the orphan to hold its memory")
        killed = []
        watchdog.watch(kernel.pid, memory_bytes=200 * 2**20, threads=1000, uid=uid, on_kill=killed.append).join(60)
        assert killed and killed[0].startswith("memory"), "300 MB held by an orphan of the uid went unnoticed"
        wait_until(lambda: processes_of(uid) == [], "every process of the uid to be gone")
    finally:
        kernel.kill()
        kernel.wait()


# --- grader files -----------------------------------------------------------------------------------------

@needs_root
def test_the_graders_own_folders_are_made_private(uid, shared_tmp):
    own = shared_tmp / "out"
    (own / "results").mkdir(parents=True)
    (own / "results" / "grade.json").write_text("{}")
    own.chmod(0o755)
    tiers.protect(own=[own], secret=[])
    assert own.stat().st_mode & 0o077 == 0, oct(own.stat().st_mode)
    assert tiers.exposed(uid, [own, own / "results" / "grade.json"]) == []


@needs_root
def test_grading_is_refused_while_the_kernel_uid_could_read_a_secret(shared_tmp):
    secret = shared_tmp / "solutions"
    secret.mkdir(mode=0o755)
    with pytest.raises(UsageError) as refused:
        tiers.protect(own=[], secret=[secret])
    assert str(secret) in str(refused.value) and "chmod" in str(refused.value), str(refused.value)
    assert secret.stat().st_mode & 0o777 == 0o755, "the instructor's folder is theirs to change, not the grader's"


@needs_root
def test_data_the_kernel_uid_can_read_is_linked_into_its_home(uid, shared_tmp):
    data, home = shared_tmp / "data", shared_tmp / "home"
    data.mkdir()
    (data / "set.npz").write_bytes(b"x")
    home.mkdir()
    tiers.give_data(data, home, uid)
    assert (home / "data").is_symlink() and (home / "data" / "set.npz").read_bytes() == b"x"


@needs_root
def test_data_the_kernel_uid_cannot_read_is_copied_into_its_home(uid, shared_tmp):
    private, home = shared_tmp / "bundle", shared_tmp / "home"
    (private / "data").mkdir(parents=True)
    (private / "data" / "set.npz").write_bytes(b"x")
    private.chmod(0o700)
    home.mkdir()
    tiers.give_data(private / "data", home, uid)
    assert not (home / "data").is_symlink(), "a link into a private folder is of no use to the kernel"
    assert tiers.exposed(uid, [home / "data" / "set.npz"]) == [home / "data" / "set.npz"], "the copy is unreadable"


# --- end to end: a tiny course graded without namespaces ----------------------------------------------------

@pytest.mark.slow
@needs_container
def test_grading_without_namespaces_runs_in_the_uid_tier_and_scores_as_bwrap(tmp_path):
    """The same notebooks, graded in the bwrap tier and in the uid-only tier (chosen because bwrap fails
    as in Docker), with kernels forked from the template and started afresh, get the same results; the
    instructor is told the tier and that the network is open."""
    course = Course(make_course(tmp_path / "course"))
    answers = {"ann": REFERENCE["tinyadd"], "bob": {**REFERENCE["tinyadd"], "add": "def add(a, b):\n    return a - b"},
               "cat": {"add": "import os\nassert os.getuid() != 0\n" + REFERENCE["tinyadd"]["add"]}}
    for student, answer in answers.items():
        write(notebook("tinyadd", answer), tmp_path / "subs" / student / "tinyadd.ipynb")
    bwrap = grade([tmp_path / "subs"], tmp_path / "out-bwrap", course=course, stream=io.StringIO(), tier=Tier.BWRAP)
    # a private copy of the package, as Gradescope's bundle is: the kernel must not read its checks
    shutil.copytree(ROOT / "autograder", tmp_path / "package" / "autograder",
                    ignore=shutil.ignore_patterns("__pycache__"))
    expected = {row.student: [(test.name, test.score, test.message) for test in row.tests]
                for row in bwrap.rows}
    for kernels, options in (("forked", []), ("fresh", ["--fresh-kernels"])):  # from the template, or each afresh
        out = tmp_path / f"out-uid-{kernels}"
        command = [sys.executable, "-m", "autograder", "grade", str(tmp_path / "subs"), "--out", str(out),
                   "--course", str(course.root), *options]
        done = subprocess.run(container.no_namespaces(command, {tmp_path: str(tmp_path)}, cwd=str(tmp_path / "package")),
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "Sandbox tier 'uid'" in done.stderr and "network is NOT cut" in done.stderr, done.stderr[-2000:]
        logs = "".join(path.read_text(encoding="utf-8") for path in (out / ".work" / "logs").glob("*.log"))
        assert ("kernel template ready" in logs) == (kernels == "forked"), f"{kernels} kernels: {logs[-2000:]}"
        uid_rows = json.loads((out / "grades.json").read_text())["submissions"]
        tests = {row["student"]: [(test["name"], test["score"], test["message"]) for test in row["tests"]]
                 for row in uid_rows}
        assert tests == expected, f"the uid-only tier, {kernels} kernels, graded the same notebooks differently"
        assert [row["score"] for row in sorted(uid_rows, key=lambda row: row["student"])] == [5, 3, 2], uid_rows
        assert out.stat().st_mode & 0o077 == 0, "the output folder must be private to root"
