"""Start a Jupyter kernel under resource limits: `python kernel_launcher.py [options] -- KERNEL COMMAND`.

Run as a script by the grading worker (see execute.py): it sets the limits, records its process id
(the kernel's process group, which its children share) so that the grader can stop them all, and then
replaces itself with the kernel command, which is normally the sandbox (sandbox.py) around the kernel.
Limits are inherited through the sandbox by the kernel and everything it starts.

With `--template SOCKET` the kernel is forked from the worker's kernel template instead (zygote.py):
this process asks for it, moves it into the kernel's cgroups before it runs anything, records its
process group, and then stands for it towards Jupyter (it forwards interrupts, ends it when told to
and ends when it does). The template applies the limits in the kernel.
"""

import argparse
import functools
import json
import os
import resource
import signal
import socket
import struct
import sys
from pathlib import Path

# Variables of the grader that the student's kernel has no business seeing.
PRIVATE_ENV = ("PYTHONPATH", "KDD_WORKER_LOG", "KDD_JOB", "KDD_GRADER_PID")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


PR_SET_PDEATHSIG = 1  # prctl option: the signal this process gets when the thread that started it ends
HEAP_HEADROOM_MB = 128
CGROUP_V2 = Path("/sys/fs/cgroup")
CGROUP_V1 = Path("/sys/fs/cgroup/memory")
CPU_PERIOD_US = 100_000  # the cpu controller's accounting period; a kernel gets `threads` periods per period


def die_with_parent(parent: int) -> None:
    """Get SIGKILL as soon as `parent` (the process that started this one) ends, even when it is killed;
    end at once if it already has. The signal survives exec (bwrap, the kernel), not a change of user."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        os._exit(1)


def _join_cgroup(folder: Path, settings: dict[str, object], pid: int) -> bool:
    """Create a cgroup, apply its settings and move process `pid` into it; False (and nothing left) if not."""
    try:
        folder.mkdir()
        for setting, value in settings.items():
            (folder / setting).write_text(str(value))
        (folder / "cgroup.procs").write_text(str(pid))
    except OSError as error:
        print(f"kernel_launcher: no cgroup {folder} ({error})", file=sys.stderr)
        try:
            folder.rmdir()
        except OSError:
            pass
        return False
    return True


def kernel_cgroups(name: str, memory_bytes: int, processes: int, cores: int, pid: int = 0) -> list[Path]:
    """Move this process (or `pid`) into new cgroups: all its memory (heap, shared memory, tmpfs files) limited to
    `memory_bytes`, its processes and threads to `processes`, its CPU to `cores` cores (so that a fork
    bomb slows down only itself). The memory cgroup is required: [] where it cannot be made (not root,
    no memory controller, a read-only tree); the other two are added where their controller exists."""
    pid = pid or os.getpid()
    pids, cpu = {"pids.max": processes}, {"cpu.cfs_quota_us": cores * CPU_PERIOD_US,
                                          "cpu.cfs_period_us": CPU_PERIOD_US}
    controllers = CGROUP_V2 / "cgroup.controllers"
    if controllers.exists() and "memory" in (available := controllers.read_text().split()):
        settings: dict[str, object] = {"memory.max": memory_bytes, "memory.swap.max": 0}
        if "pids" in available:
            settings.update(pids)
        if "cpu" in available:
            settings["cpu.max"] = f"{cores * CPU_PERIOD_US} {CPU_PERIOD_US}"
        return [CGROUP_V2 / name] if _join_cgroup(CGROUP_V2 / name, settings, pid) else []
    if not (CGROUP_V1 / "memory.limit_in_bytes").exists():
        return []
    if not _join_cgroup(CGROUP_V1 / name, {"memory.limit_in_bytes": memory_bytes}, pid):
        return []
    optional = [(CGROUP_V1.parent / "pids" / name, pids), (CGROUP_V1.parent / "cpu" / name, cpu)]
    return [CGROUP_V1 / name] + [folder for folder, settings in optional
                                 if folder.parent.is_dir() and _join_cgroup(folder, settings, pid)]


@functools.lru_cache(maxsize=1)
def memory_cgroups_work() -> bool:
    """Whether kernel_cgroups can work here (root, a memory controller, a writable cgroup tree)."""
    if os.geteuid() != 0:
        return False
    probe = CGROUP_V2 if (CGROUP_V2 / "cgroup.controllers").exists() else CGROUP_V1
    folder = probe / f"kdd-probe-{os.getpid()}"
    try:
        folder.mkdir()
    except OSError:
        return False
    try:
        names = ("memory.max",) if probe == CGROUP_V2 else ("memory.limit_in_bytes",)
        return all((folder / name).exists() for name in names)
    finally:
        folder.rmdir()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memory-mb", type=int, required=True,
                        help="all memory (with --cgroup); RLIMIT_DATA (heap, anonymous memory) is a little less")
    parser.add_argument("--file-mb", type=int, required=True, help="RLIMIT_FSIZE: the largest file written")
    parser.add_argument("--threads", type=int, required=True, help="CPU threads for numeric libraries")
    parser.add_argument("--nproc", type=int, default=0, help="RLIMIT_NPROC: processes and threads of the user")
    parser.add_argument("--cpu-seconds", type=int, default=0, help="RLIMIT_CPU: CPU time of each process")
    parser.add_argument("--cgroup", action="store_true",
                        help="cgroups (root): all memory to --memory-mb, processes to --nproc, CPU to --threads cores")
    parser.add_argument("--sandboxed", action="store_true", help="the command is the sandbox around the kernel")
    parser.add_argument("--pidfile", required=True, help="where to write the kernel's process id")
    parser.add_argument("--parent", type=int, default=0, help="die with this process (the grading worker)")
    parser.add_argument("--template", default="", help="fork the kernel from the template listening here "
                                                       "(zygote.py); the command is used if it cannot")
    parser.add_argument("--template-request", default="{}",
                        help="JSON for the template: the kernel's argv, env, uid and tmp_mb")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no kernel command after --")
    if args.parent:
        die_with_parent(args.parent)
    # the heap alone fails a little before the cgroup's limit on all memory, so that a runaway allocation
    # ends in a MemoryError the kernel survives rather than in the kernel being killed
    memory = (args.memory_mb - min(HEAP_HEADROOM_MB, args.memory_mb // 4)) * 2**20
    size = args.file_mb * 2**20
    limits = {"RLIMIT_DATA": (memory, memory), "RLIMIT_FSIZE": (size, size), "RLIMIT_CORE": (0, 0)}
    if args.nproc:
        limits["RLIMIT_NPROC"] = (args.nproc, args.nproc)
    if args.cpu_seconds:  # SIGXCPU at the soft limit, SIGKILL a little later
        limits["RLIMIT_CPU"] = (args.cpu_seconds, args.cpu_seconds + 10)
    if args.template and forked(args, limits):
        return
    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), value)
    for name in THREAD_VARIABLES:
        os.environ[name] = str(args.threads)
    for name in PRIVATE_ENV:
        os.environ.pop(name, None)
    if args.sandboxed:  # Jupyter interrupts the whole process group: only the kernel may react, not bwrap
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # (the kernel installs its own handler)
    _write_pid(args.pidfile, os.getpid())
    if args.cgroup:
        _cgroups(args, os.getpid())
    os.execvp(command[0], command)


def _write_pid(pidfile: str, pid: int) -> None:
    with open(pidfile, "w", encoding="ascii") as handle:
        handle.write(f"{pid}\n")


def _cgroups(args: argparse.Namespace, pid: int) -> None:
    """Move `pid` into the kernel's cgroups; their paths go next to the pid file, for jobs.stop_kernel
    to empty and remove them."""
    folders = kernel_cgroups(f"kdd-kernel-{pid}", args.memory_mb * 2**20, args.nproc or 2**22, args.threads, pid)
    if folders:  # appended: a template that failed may have left one of a kernel that never started
        with open(args.pidfile + ".cgroup", "a", encoding="utf-8") as handle:
            handle.write("".join(f"{folder}\n" for folder in folders))


def forked(args: argparse.Namespace, limits: dict[str, tuple[int, int]]) -> bool:
    """Have the template fork the kernel (zygote.py), then stand for it until it ends. False when the
    template could not start it (nothing of the kernel's has run then): the caller starts it itself."""
    request = json.dumps({**json.loads(args.template_request), "rlimits": limits}).encode("utf-8")
    child = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        try:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            conn.connect(args.template)
            socket.send_fds(conn, [struct.pack("!I", len(request)) + request], [0, 1, 2])
            child = _sender(conn, b"f")
            if args.cgroup:  # before it runs anything of the kernel's
                _cgroups(args, child)
            conn.sendall(b"g")
            group = _sender(conn, b"r")  # PID 1 of the kernel's namespace, leader of its process group
        except (OSError, RuntimeError) as error:
            print(f"kernel_launcher: the template did not start the kernel ({error}); starting it afresh",
                  file=sys.stderr)
            if child:
                _signal_group(child, signal.SIGKILL, single=True)
            return False
        _write_pid(args.pidfile, group)
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # Jupyter signals this process's group
            signal.signal(number, lambda number, _: _signal_group(group, number))
        while conn.recv(64):  # empty when the namespace's PID 1 has ended (and with it the kernel)
            pass
    return True


def _signal_group(group: int, number: int, single: bool = False) -> None:
    try:
        os.kill(group, number) if single else os.killpg(group, number)
    except ProcessLookupError:
        pass


def _sender(conn: socket.socket, expected: bytes) -> int:
    """The pid, as this process sees it, of the process that sent `expected` (its credentials)."""
    data, ancillary, _, _ = conn.recvmsg(1, socket.CMSG_SPACE(struct.calcsize("3i")))
    if data != expected:
        raise RuntimeError(f"the template answered {data!r}, not {expected!r}")
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            return struct.unpack("3i", value[:struct.calcsize("3i")])[0]
    raise RuntimeError("the template's answer came without credentials")


if __name__ == "__main__":
    main(sys.argv[1:])
