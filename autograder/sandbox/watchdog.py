"""Memory and process limits for a kernel that has no cgroup (grading without root).

As root, launcher.py puts the kernel in a memory cgroup and gives its own user a process
limit, and the Linux kernel enforces both. Without root neither exists: RLIMIT_DATA still caps the
heap, but shared memory (`mmap`, `memfd`) and the socket folder are unlimited, and RLIMIT_NPROC
would count all of the grader's user's processes. So a thread of the grader watches the kernel's
process tree instead, a few times a second, and kills the sandbox when the tree holds more memory
(proportional set size, memfd files, files in the socket folder) or more threads than the limits.
It is a poll: a fast allocation can overshoot by what it allocates between two looks.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

INTERVAL = 0.2  # seconds between two looks
PROC = Path("/proc")


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants (orphans inside the sandbox stay below its init process)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir(PROC):
        if entry.name.isdigit():
            try:
                with open(f"{entry.path}/stat", "rb") as handle:
                    stat = handle.read()
            except OSError:  # gone meanwhile
                continue
            parent = int(stat[stat.rindex(b")") + 2:].split()[1])  # the name in (...) may hold anything
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def processes_of(uid: int, zombies: bool = False) -> list[int]:
    """Every live process (with `zombies`, also every dead one not yet reaped) whose real uid is `uid`
    (read from /proc/<pid>/status, which a process cannot hide the way it can make /proc/<pid> itself
    root's by turning off its dumpable flag)."""
    found = []
    for entry in os.scandir(PROC):
        if entry.name.isdigit():
            try:
                status = (PROC / entry.name / "status").read_text()
            except OSError:  # gone meanwhile
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if ((zombies or fields.get("State", "").split()[:1] != ["Z"])
                    and fields.get("Uid", "").split()[:1] == [str(uid)]):
                found.append(int(entry.name))
    return found


def _field_kb(text: str, name: str) -> int:
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def usage(pids: Iterable[int], folders: Iterable[Path] = ()) -> tuple[int, int]:
    """(bytes of memory, threads) held by the processes `pids` and the files in `folders`."""
    memory, threads, files = 0, 0, set()
    for pid in pids:
        folder = PROC / str(pid)
        try:
            memory += _field_kb((folder / "smaps_rollup").read_text(), "Pss") * 1024
            threads += _field_kb((folder / "status").read_text(), "Threads")
            fds = list((folder / "fd").iterdir())
        except (OSError, ValueError):  # gone meanwhile
            continue
        for fd in fds:
            try:
                if os.readlink(fd).startswith("/memfd:"):  # memory in a file that need not be mapped
                    info = fd.stat()
                    files.add((info.st_dev, info.st_ino, info.st_blocks))
            except OSError:
                continue
    for top in folders:
        for path in [top, *top.rglob("*")] if top.is_dir() else []:
            try:
                info = path.lstat()
            except OSError:
                continue
            files.add((info.st_dev, info.st_ino, info.st_blocks))
    return memory + sum(blocks * 512 for _, _, blocks in files), threads


def _alive(pid: int) -> bool:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def watch(pid: int, *, memory_bytes: int, threads: int, folders: Iterable[Path] = (), uid: int | None = None,
          on_kill: Callable[[str], None] | None = None) -> threading.Thread:
    """Start a daemon thread that kills process group `pid` (the sandbox) when its process tree holds
    more than `memory_bytes` or `threads`; it ends by itself when `pid` has ended. With `uid` (the
    kernel's own, in the uid-only tier, where orphans leave the tree), every process of `uid` counts
    and is killed too."""
    folders = [Path(folder) for folder in folders]

    def run() -> None:
        while _alive(pid):
            pids = process_tree(pid)
            if uid is not None:
                pids = sorted(set(pids) | set(processes_of(uid)))
            memory, running = usage(pids, folders)
            if memory > memory_bytes or running > threads:
                why = (f"memory {memory // 2**20} MB > {memory_bytes // 2**20} MB" if memory > memory_bytes
                       else f"threads {running} > {threads}")
                try:  # the sandbox's own processes die with it (bwrap --die-with-parent, PID namespace)
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
                for other in pids if uid is not None else []:  # the uid-only tier: no PID namespace
                    try:
                        os.kill(other, signal.SIGKILL)
                    except OSError:
                        pass
                if on_kill is not None:
                    on_kill(why)
                return
            time.sleep(INTERVAL)

    thread = threading.Thread(target=run, name=f"watchdog-{pid}", daemon=True)
    thread.start()
    return thread
