"""Start a Jupyter kernel under resource limits: `python kernel_launcher.py [options] -- KERNEL COMMAND`.

Run as a script by the grading worker (see execute.py): it sets the limits, records its process id
(the kernel's process group, which its children share) so that the grader can stop them all, and then
replaces itself with the kernel command, which is normally the sandbox (sandbox.py) around the kernel.
Limits are inherited through the sandbox by the kernel and everything it starts.
"""

import argparse
import functools
import os
import resource
import signal
import sys
from pathlib import Path

# Variables of the grader that the student's kernel has no business seeing.
PRIVATE_ENV = ("PYTHONPATH", "KDD_WORKER_LOG", "KDD_JOB")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


HEAP_HEADROOM_MB = 128
CGROUP_V2 = Path("/sys/fs/cgroup")
CGROUP_V1 = Path("/sys/fs/cgroup/memory")


def memory_cgroup(name: str, limit_bytes: int) -> Path | None:
    """Move this process into a new memory cgroup limited to `limit_bytes` (all memory: heap, shared
    memory, tmpfs files); None where cgroups cannot be used (not root, no memory controller)."""
    if (CGROUP_V2 / "cgroup.controllers").exists() and "memory" in (CGROUP_V2 / "cgroup.controllers").read_text():
        folder, settings = CGROUP_V2 / name, {"memory.max": limit_bytes, "memory.swap.max": 0}
    elif (CGROUP_V1 / "memory.limit_in_bytes").exists():
        folder, settings = CGROUP_V1 / name, {"memory.limit_in_bytes": limit_bytes}
    else:
        return None
    try:
        folder.mkdir()
        for setting, value in settings.items():
            (folder / setting).write_text(str(value))
        (folder / "cgroup.procs").write_text(str(os.getpid()))
    except OSError as error:
        print(f"kernel_launcher: no memory cgroup ({error})", file=sys.stderr)
        try:
            folder.rmdir()
        except OSError:
            pass
        return None
    return folder


@functools.lru_cache(maxsize=1)
def memory_cgroups_work() -> bool:
    """Whether memory_cgroup can work here (root, a memory controller, a writable cgroup tree)."""
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
                        help="limit all memory of the kernel and its children to --memory-mb with a cgroup (root)")
    parser.add_argument("--sandboxed", action="store_true", help="the command is the sandbox around the kernel")
    parser.add_argument("--pidfile", required=True, help="where to write the kernel's process id")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no kernel command after --")
    # the heap alone fails a little before the cgroup's limit on all memory, so that a runaway allocation
    # ends in a MemoryError the kernel survives rather than in the kernel being killed
    memory = (args.memory_mb - min(HEAP_HEADROOM_MB, args.memory_mb // 4)) * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    size = args.file_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if args.nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (args.nproc, args.nproc))
    if args.cpu_seconds:  # SIGXCPU at the soft limit, SIGKILL a little later
        resource.setrlimit(resource.RLIMIT_CPU, (args.cpu_seconds, args.cpu_seconds + 10))
    for name in THREAD_VARIABLES:
        os.environ[name] = str(args.threads)
    for name in PRIVATE_ENV:
        os.environ.pop(name, None)
    if args.sandboxed:  # Jupyter interrupts the whole process group: only the kernel may react, not bwrap
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # (the kernel installs its own handler)
    with open(args.pidfile, "w", encoding="ascii") as handle:
        handle.write(f"{os.getpid()}\n")
    if args.cgroup:  # its path goes next to the pid file, for jobs.stop_kernel to empty and remove it
        folder = memory_cgroup(f"kdd-kernel-{os.getpid()}", args.memory_mb * 2**20)
        if folder is not None:
            Path(args.pidfile + ".cgroup").write_text(str(folder), encoding="utf-8")
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
