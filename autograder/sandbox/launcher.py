"""Start a Jupyter kernel under resource limits: `python launcher.py [options] -- KERNEL COMMAND`.

Run by its path by the grading worker (see execute.py), in the environment the kernel gets (which, in
the uid-only tier, has no PYTHONPATH: the package is found from this file's place): it sets the limits, records its process id
(the kernel's process group, which its children share) so that the grader can stop them all, and then
replaces itself with the kernel command, which is normally the sandbox (bwrap.py, tiers.py) around the kernel.
Limits are inherited through the sandbox by the kernel and everything it starts.

With `--template SOCKET` the kernel is forked from the worker's kernel template instead (zygote.py):
this process asks for it, moves it into the kernel's cgroups before it runs anything, records its
process group, and then stands for it towards Jupyter (it forwards interrupts, ends it when told to
and ends when it does). The template applies the limits in the kernel.
"""

import argparse
import json
import os
import resource
import signal
import socket
import struct
import sys

if __name__ == "__main__" and not __package__:  # run by its path: import its neighbours as the package's (PEP 366)
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "autograder.sandbox"

from .cgroups import kernel_cgroups
from .lifetime import die_with_parent
from .names import CGROUP_FILE, KERNEL_CGROUP, PRIVATE_ENV, THREAD_VARIABLES

HEAP_HEADROOM_MB = 128
CPU_KILL_AFTER_SECONDS = 10  # SIGKILL this long after SIGXCPU (RLIMIT_CPU's hard limit)


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
        limits["RLIMIT_CPU"] = (args.cpu_seconds, args.cpu_seconds + CPU_KILL_AFTER_SECONDS)
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
    """Move `pid` into the kernel's cgroups; their paths go next to the pid file, for cleanup.stop_kernel
    to empty and remove them."""
    folders = kernel_cgroups(f"{KERNEL_CGROUP}{pid}", args.memory_mb * 2**20, args.nproc or 2**22, args.threads, pid)
    if folders:  # appended: a template that failed may have left one of a kernel that never started
        with open(os.path.join(os.path.dirname(args.pidfile), CGROUP_FILE), "a", encoding="utf-8") as handle:
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
            print(f"launcher: the template did not start the kernel ({error}); starting it afresh",
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
