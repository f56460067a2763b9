"""The sandbox around student kernels and the trusted check's parts, tested one by one.

End-to-end attacks on `python -m autograder grade` are in tests/autograder/test_attacks.py; this module
checks the pieces quickly: what a process in the sandbox can see and do, how probe output is read,
and how the trusted check caps nbgrader's scores.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.autograder.fixtures import make_course, notebook, write
from tests import ROOT

from autograder import cli, trusted
from autograder.sandbox import bwrap
from autograder.course import Course
from autograder.grade import grade
from autograder.model import TestResult, UsageError


PROBE = textwrap.dedent("""
    import json, os, socket, subprocess, sys
    seen = {"uid": os.getuid(), "root": sorted(os.listdir("/")), "cwd": os.getcwd()}
    for path in sys.argv[1:]:
        seen[path] = os.path.exists(path)
    try:
        socket.create_connection(("127.0.0.1", int(os.environ["PORT"])), timeout=2)
        seen["network"] = "connected"
    except OSError as error:
        seen["network"] = type(error).__name__
    for folder in ("/home/student", "/tmp", "/dev/shm", "/data", "/usr"):
        try:
            with open(os.path.join(folder, "probe.txt"), "w") as handle:
                handle.write("x")
            seen["writable " + folder] = True
            with open(os.path.join(folder, "fill.bin"), "wb") as handle:  # more than the folder's size
                handle.write(bytes(int(os.environ["FILL_BYTES"])))
            seen["filled " + folder] = True
        except OSError:
            seen.setdefault("writable " + folder, False)
    # a detached child that would outlive the kernel if the sandbox let it
    subprocess.Popen(["sleep", "61.25"], start_new_session=True)  # the test looks for this exact command
    print(json.dumps(seen))
""")


def _detached_sleepers() -> list[int]:
    """The probe's detached `sleep 61.25`, if it is still running anywhere."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes() == b"sleep\x0061.25\x00":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_the_sandbox_works_on_this_machine():
    assert bwrap.unavailable() is None, f"CI installs bubblewrap (.ci/install): {bwrap.unavailable()}"


def test_a_sandboxed_process_sees_and_reaches_only_what_it_may(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    secrets_to_hide = [str(ROOT / "solutions"), str(ROOT / "autograder"), str(tmp_path), "/etc/shadow", "/root/.ssh"]
    uid = bwrap.claim_uid()  # reserved for this process: no grading run uses it meanwhile
    env = {"PORT": str(listener.getsockname()[1]), "FILL_BYTES": str(17 * 2**20)}  # 1 MB more than tmp_mb
    command = bwrap.command([sys.executable, "-c", PROBE, *secrets_to_hide], ipc_dir=None, data_dir=ROOT / "data",
                              uid=uid, tmp_mb=16, env=env)
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing connected to the host's loopback
    listener.close()
    assert seen["network"] in ("ConnectionRefusedError", "OSError"), seen["network"]
    for path in secrets_to_hide:
        assert seen[path] is False, f"{path} is visible in the sandbox"
    # the system folders, plus the top folder of wherever Python and its venv live (a checkout may be anywhere)
    python_tops = {Path(path).resolve().parts[1] for path in (sys.prefix, sys.base_prefix, sys.executable)}
    assert set(seen["root"]) <= {"bin", "data", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "proc",
                                 "sbin", "tmp", "usr", *python_tops}, seen["root"]
    assert seen["cwd"] == bwrap.HOME
    private = ("/home/student", "/tmp", "/dev/shm")
    assert all(seen["writable " + folder] for folder in private), seen
    assert not any(seen.get("filled " + folder) for folder in private), f"a private folder took 17 MB of 16: {seen}"
    assert not seen["writable /data"] and not seen["writable /usr"], seen
    if bwrap.is_root():
        assert seen["uid"] == uid and uid >= bwrap.UID_BASE, "the kernel must not run as root"
    time.sleep(0.5)
    assert not _detached_sleepers(), "a detached child outlived its sandbox"


@pytest.fixture(scope="module")
def tiny_course(tmp_path_factory):
    return Course(make_course(tmp_path_factory.mktemp("sandbox") / "course"))


def test_grading_refuses_to_run_without_a_sandbox_unless_told(tiny_course, tmp_path, monkeypatch, capsys):
    from autograder.sandbox import tiers

    monkeypatch.setattr(bwrap, "unavailable", lambda: "bubblewrap (`bwrap`) is not installed")
    monkeypatch.setattr(tiers, "uid_unavailable", lambda: "it needs root")  # no tier at all (test_tiers.py)
    submission = write(notebook("tinyadd"), tmp_path / "subs" / "ann" / "tinyadd.ipynb")
    with pytest.raises(UsageError, match="--unsafe"):
        grade([submission.parent.parent], tmp_path / "out", course=tiny_course, stream=io.StringIO())
    code = cli.main(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out2"), "--course",
                     str(tiny_course.root)])
    assert code == 2 and "bwrap" in capsys.readouterr().err
    assert not (tmp_path / "out2" / "grades.json").exists()


# --- the trusted check's parts ---------------------------------------------------------------------------

def test_values_agree_within_tolerance_and_type():
    same = {"name": "rmse", "values": [1.0, 2.0], "nan": float("nan"), "flag": True, "count": 3}
    assert trusted.difference(json.loads(json.dumps(same)), same) is None
    assert trusted.difference({**same, "values": [1.0 + 1e-7, 2.0]}, same) is None
    assert trusted.difference({**same, "values": [1.01, 2.0]}, same) == "values[0]"
    assert trusted.difference({**same, "nan": 0.0}, same) == "nan"
    assert trusted.difference({**same, "flag": 1}, same) == "flag", "a number is not a boolean"
    assert trusted.difference({**same, "name": "RMSE"}, same) == "name"
    assert trusted.difference({**same, "values": [1.0]}, same) == "values"
    assert trusted.difference({key: value for key, value in same.items() if key != "count"}, same) == "the result"


def test_probe_output_is_read_only_from_probe_cells_with_the_nonce():
    check = trusted.Check("demo", "def check_add(rng, ns):\n    return 1\n", ("add",), "0" * 64)
    source = {"cells": [
        {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "demo-add"}}, "source": "", "outputs": []},
        # a student's cell posing as a probe cell, with a fake result: it must be dropped
        {"cell_type": "code", "metadata": {trusted.METADATA: {"task": "add", "nonce": "guess"}}, "source": "",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": 'guess {"value": 1}\n'}]},
    ]}
    [nonce] = trusted.add_probes(source, check, [7], {"add": "demo-add"})
    assert len(source["cells"]) == 2 and source["cells"][1]["metadata"][trusted.METADATA]["nonce"] == nonce
    assert "numpy.random.default_rng(7)" in source["cells"][1]["source"]

    def printed(text):
        cell = dict(source["cells"][1], outputs=[{"output_type": "stream", "name": "stdout", "text": text}])
        return trusted.observations({"cells": [source["cells"][0], cell]}, nonce)["add"]

    assert printed(f'noise\n{nonce} {{"value": 2}}\n') == {"value": 2}
    assert "error" in printed(f'{nonce} {{"value": 2}}\n{nonce} {{"value": 3}}\n'), "two results are one too many"
    assert "error" in printed('{"value": 2}\n'), "a line without the nonce is not a result"
    assert "error" in printed(f"{nonce} not json\n")


def test_probe_cells_run_and_report_in_a_kernel_namespace():
    check = trusted.Check("demo", "def check_add(rng, ns):\n    return {'sum': ns['add'](2, 3), 'draw': "
                                  "float(rng.uniform())}\n", ("add",), "0" * 64)
    notebook_json = {"cells": [{"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "demo-add"}},
                                "source": "", "outputs": []}]}
    [nonce] = trusted.add_probes(notebook_json, check, [11], {"add": "demo-add"})
    probe = notebook_json["cells"][1]["source"]
    for add, expected_sum in (("def add(a, b):\n    return a + b", 5), ("def add(a, b):\n    raise ValueError('x' * 999)", None)):
        code = f"{add}\n{probe}"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        cell = {"metadata": {trusted.METADATA: {"task": "add", "nonce": nonce}},
                "outputs": [{"output_type": "stream", "name": "stdout", "text": done.stdout}]}
        seen = trusted.observations({"cells": [cell]}, nonce)["add"]
        if expected_sum is None:
            assert seen["error"].startswith("ValueError") and len(seen["error"]) <= 300, seen
            why = trusted.verdict(seen, {"value": {}})
            assert "ValueError" in why and "xxx" not in why, "a student's error text never reaches feedback"
        else:
            assert seen["value"]["sum"] == expected_sum and 0 <= seen["value"]["draw"] < 1, seen


def test_the_trusted_check_caps_nbgrader_and_flags_disagreements(tmp_path):
    plan = trusted.Plan(trusted.Check("demo", "", ("a", "b", "c"), "0" * 64), b"key", "source", tmp_path)
    plan.give(["sub"])
    plan.expected[plan.probe_id(plan.seed("sub"))] = {"a": {"value": 1.0}, "b": {"value": 2.0}, "c": {"value": 3.0}}
    tests = [TestResult(f"demo-{task}", score, 2.0, passed=score == 2.0, message="")
             for task, score in (("a", 2.0), ("b", 2.0), ("c", 0.0))]
    observed = {"a": {"value": 1.0}, "b": {"value": 2.5}, "c": {"value": 3.0}}
    capped, flags = trusted.apply("demo", tests, observed, plan, "sub")
    assert [test.score for test in capped] == [2.0, 0.0, 0.0]
    assert [test.trusted for test in capped] == [True, False, True]
    assert "Not confirmed by the grader's own check" in capped[1].message
    assert len(flags) == 2 and flags[0].startswith("demo-b:") and flags[1].startswith("demo-c:"), flags
    assert tests[1].score == 2.0, "apply() must not change nbgrader's own record"
    unchecked, flags = trusted.apply("demo", tests, observed, trusted.Plan(None), "sub")
    assert unchecked == tests and "no trusted check" in flags[0]


@pytest.mark.slow
def test_unsafe_grading_still_works_and_is_kept_apart(tiny_course, tmp_path):
    from tests.autograder.fixtures import REFERENCE

    write(notebook("tinyadd", REFERENCE["tinyadd"]), tmp_path / "subs" / "ann" / "tinyadd.ipynb")
    unsafe = grade([tmp_path / "subs"], tmp_path / "out", course=tiny_course, stream=io.StringIO(), sandboxed=False)
    assert unsafe.by_student("ann", "tinyadd").score == 5
    again = grade([tmp_path / "subs"], tmp_path / "out", course=tiny_course, stream=io.StringIO())
    assert (again.graded_now, again.reused) == (1, 0), "a result graded without the sandbox is not reused with it"


def test_private_folders_are_mounted_before_host_folders_that_may_live_below_them():
    below_tmp = Path(bwrap.TMP) / "kdd-ipc-x"  # where the worker's socket folder usually is
    args = bwrap.command(["true"], ipc_dir=below_tmp, data_dir=None, uid=bwrap.claim_uid(), tmp_mb=8)
    tmpfs = args.index(bwrap.TMP, args.index("--tmpfs"))
    binds = [index for index, arg in enumerate(args) if arg in ("--ro-bind", "--bind") and
             args[index + 1].startswith(bwrap.TMP + "/")]
    assert binds and all(index > tmpfs for index in binds), "a tmpfs mounted later would hide a bound host folder"


@pytest.mark.slow
def test_one_huge_message_from_the_kernel_is_dropped_and_the_notebook_goes_on(tiny_course, tmp_path):
    """A kernel could send one message as large as its memory, which the worker would hold several
    times over; ZeroMQ drops it (MAX_MESSAGE_BYTES), and the grader reconnects for the next cells."""
    from autograder.sandbox.execute import MAX_MESSAGE_BYTES
    from tests.autograder.fixtures import REFERENCE

    flood = f"import sys\nsys.stdout.write('x' * {MAX_MESSAGE_BYTES + 2**20})\nsys.stdout.flush()\n"
    answers = {**REFERENCE["tinyadd"], "add": flood + REFERENCE["tinyadd"]["add"]}
    write(notebook("tinyadd", answers), tmp_path / "subs" / "ann" / "tinyadd.ipynb")
    outcome = grade([tmp_path / "subs"], tmp_path / "out", course=tiny_course, stream=io.StringIO())
    row = outcome.by_student("ann", "tinyadd")
    assert row.score == 5 and all(test.passed for test in row.tests), row
    [executed] = (tmp_path / "out" / "results").glob("*.ipynb")
    errors = [output["ename"] for cell in json.loads(executed.read_text(encoding="utf-8"))["cells"]
              for output in cell.get("outputs", []) if output["output_type"] == "error"]
    assert errors == ["OutputLost"], f"the answer cell's one message should be dropped, not received: {errors}"


# --- the watchdog, for kernels without a memory cgroup (grading without root) -----------------------------

def test_watchdog_counts_shared_memory_memfd_and_folder_files(tmp_path):
    from autograder.sandbox import watchdog

    (tmp_path / "junk.bin").write_bytes(bytes(50 * 2**20))
    holder = textwrap.dedent("""
        import mmap, os, sys, time
        shared = mmap.mmap(-1, 200 * 2**20)  # shared anonymous memory: RLIMIT_DATA does not see it
        shared.write(bytes(200 * 2**20))
        os.write(os.memfd_create("held"), bytes(100 * 2**20))  # memory in a file, mapped nowhere
        if os.fork() == 0:
            time.sleep(60)
        print("ready", flush=True)
        time.sleep(60)
    """)
    process = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        assert process.stdout.readline() == "ready\n"
        tree = watchdog.process_tree(process.pid)
        assert len(tree) == 2 and tree[0] == process.pid, tree
        memory, threads = watchdog.usage(tree, [tmp_path])
        assert memory >= 350 * 2**20 and threads >= 2, (memory // 2**20, threads)
        killed = []
        watchdog.watch(process.pid, memory_bytes=300 * 2**20, threads=1000, on_kill=killed.append).join(10)
        assert process.wait(10) == -9 and killed and killed[0].startswith("memory"), killed
        time.sleep(0.2)
        assert watchdog.process_tree(process.pid) == [process.pid], "the forked child outlived the kill"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)


def test_a_kernel_without_a_cgroup_is_stopped_past_its_memory(tmp_path):
    """The wiring: LimitedKernelManager starts the watchdog for its kernel (worker.py asks for it
    whenever the kernel gets no cgroup); past the limit the kernel dies, as it would in a cgroup."""
    from jupyter_core.utils import run_sync

    from autograder.sandbox.execute import LimitedKernelManager

    manager = LimitedKernelManager(sandboxed=False, watch_memory_mb=400, watch_threads=1000, launcher_args=[
        "--memory-mb", "2048", "--file-mb", "16", "--threads", "1", "--pidfile", str(tmp_path / "kernel.pid")])
    run_sync(manager.start_kernel)()
    client = manager.client()
    client.start_channels()
    try:
        run_sync(client.wait_for_ready)(timeout=60)
        client.execute("import mmap\nheld = mmap.mmap(-1, 600 * 2**20)\nheld.write(bytes(600 * 2**20))")
        deadline = time.monotonic() + 30
        while run_sync(manager.is_alive)() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not run_sync(manager.is_alive)(), "the kernel held 600 MB of shared memory past a 400 MB limit"
    finally:
        client.stop_channels()
        run_sync(manager.shutdown_kernel)(now=True)


def test_every_submission_has_a_seed_of_its_own(tmp_path):
    check = trusted.Check("demo", "def check_add(rng, ns):\n    return 1\n", ("add",), "0" * 64)
    plan = trusted.Plan(check, b"secret", "source", tmp_path / "state")
    plan.give(["a" * 64, "b" * 64])
    plan.give(["b" * 64, "c" * 64])
    seeds = {plan.seed(sha) for sha in ("a" * 64, "b" * 64, "c" * 64)}
    assert len(seeds) == 3, "two notebooks with different bytes must never share probe inputs"
    again = trusted.Plan(check, b"secret", "source", tmp_path / "state")  # a later run of the same course
    again.give(["c" * 64, "a" * 64, "d" * 64])
    assert [again.seed(sha) for sha in ("a" * 64, "c" * 64)] == [plan.seed("a" * 64), plan.seed("c" * 64)], (
        "a rerun of the same bytes must keep its seed (cached results stay valid)")
    assert again.seed("d" * 64) not in seeds, "a seed is never given to a second submission"
    other_course = trusted.Plan(check, b"another secret", "source", tmp_path / "other")
    other_course.give(["a" * 64])
    assert other_course.seed("a" * 64) != plan.seed("a" * 64), "the seed depends on the grader's secret"
    assert str(plan.seed("a" * 64)) not in plan.probe_id(plan.seed("a" * 64)), "file names never show a seed"


def test_reference_jobs_compute_missing_seeds_and_the_next_ones_to_give(tmp_path):
    check = trusted.Check("demo", "def check_add(rng, ns):\n    return 1\n", ("add",), "0" * 64)
    plan = trusted.Plan(check, b"secret", "source", tmp_path / "state")
    plan.give(["a" * 64])
    [batch] = plan.seeds_to_compute(["a" * 64])
    assert plan.seed("a" * 64) in batch
    assert len(batch) == trusted.REFERENCE_BATCH, "a reference job fills up with seeds for later submissions"
    for seed_value in batch:
        trusted.record_reference("demo", plan, seed_value, {"add": {"value": 1}})
    later = trusted.Plan(check, b"secret", "source", tmp_path / "state")
    later.give(["a" * 64, "b" * 64])
    assert later.seeds_to_compute(["a" * 64, "b" * 64]) == [], "the next submission finds its values computed"
    assert later.expected_for("b" * 64) == {"add": {"value": 1}}


def test_a_reference_job_probes_several_seeds_in_order():
    check = trusted.Check("demo", "def check_add(rng, ns):\n    return 1\n", ("add",), "0" * 64)
    notebook_json = {"cells": [{"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "demo-add"}},
                                "source": "", "outputs": []},
                               {"cell_type": "markdown", "metadata": {}, "source": "after"}]}
    nonces = trusted.add_probes(notebook_json, check, [3, 5, 8], {"add": "demo-add"})
    probes = notebook_json["cells"][1:4]
    assert len(set(nonces)) == 3 and [cell["metadata"][trusted.METADATA]["nonce"] for cell in probes] == nonces
    assert [f"default_rng({seed})" in cell["source"] for cell, seed in zip(probes, (3, 5, 8))] == [True] * 3
    assert notebook_json["cells"][4]["source"] == "after", "probe cells go right after their test cell"


FILTER_PROBE = textwrap.dedent("""
    import ctypes, errno, json, os, subprocess, threading
    libc = ctypes.CDLL(None, use_errno=True)
    def outcome(result):
        return "allowed" if result != -1 else errno.errorcode[ctypes.get_errno()]
    seen = {
        "unshare(CLONE_NEWUSER)": outcome(libc.unshare(0x10000000)),
        "unshare(CLONE_NEWNET)": outcome(libc.unshare(0x40000000)),
        "mount": outcome(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
        "ptrace(PTRACE_ATTACH, 1)": outcome(libc.ptrace(16, 1, None, None)),
        "keyctl": outcome(libc.syscall(250 if os.uname().machine == "x86_64" else 219, 0, 0, 0, 0)),
        "bpf": outcome(libc.syscall(321 if os.uname().machine == "x86_64" else 280, 0, 0, 0)),
        "unshare -U (the tool)": subprocess.run(["unshare", "-U", "true"], capture_output=True).returncode,
    }
    worker = threading.Thread(target=lambda: seen.__setitem__("thread", "ran"))
    worker.start(); worker.join()
    child = os.fork()
    if child == 0:
        os._exit(7)
    seen["fork"] = os.waitpid(child, 0)[1] >> 8
    print(json.dumps(seen))
""")


def test_the_sandbox_denies_namespaces_mounts_tracing_and_kernel_interfaces():
    command = bwrap.command([sys.executable, "-c", FILTER_PROBE], ipc_dir=None, data_dir=None,
                              uid=bwrap.claim_uid(), tmp_mb=8)
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout)
    for call in ("unshare(CLONE_NEWUSER)", "unshare(CLONE_NEWNET)", "mount", "ptrace(PTRACE_ATTACH, 1)", "keyctl",
                 "bpf"):
        assert seen[call] == "EPERM", f"{call} inside the sandbox: {seen[call]} (the seccomp filter must deny it)"
    assert seen["unshare -U (the tool)"] != 0, "a process in the sandbox created a user namespace"
    assert seen["thread"] == "ran" and seen["fork"] == 7, f"threads and fork must still work: {seen}"
