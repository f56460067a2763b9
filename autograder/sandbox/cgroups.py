"""The kernel's cgroups: all its memory, its processes and threads, its CPU (grading as root).

launcher.py moves each kernel into cgroups named KERNEL_CGROUP + its pid and writes their paths to the
job folder (names.CGROUP_FILE); cleanup.py empties and removes them after the job.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import time
from pathlib import Path

from .names import KERNEL_CGROUP, PROBE_CGROUP

CGROUP_V2 = Path("/sys/fs/cgroup")
CGROUP_V1 = Path("/sys/fs/cgroup/memory")
CPU_PERIOD_US = 100_000  # the cpu controller's accounting period; a kernel gets `threads` periods per period


def _join_cgroup(folder: Path, settings: dict[str, object], pid: int) -> bool:
    """Create a cgroup, apply its settings and move process `pid` into it; False (and nothing left) if not."""
    try:
        folder.mkdir()
        for setting, value in settings.items():
            (folder / setting).write_text(str(value))
        (folder / "cgroup.procs").write_text(str(pid))
    except OSError as error:
        print(f"launcher: no cgroup {folder} ({error})", file=sys.stderr)
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
    folder = probe / f"{PROBE_CGROUP}{os.getpid()}"
    try:
        folder.mkdir()
    except OSError:
        return False
    try:
        names = ("memory.max",) if probe == CGROUP_V2 else ("memory.limit_in_bytes",)
        return all((folder / name).exists() for name in names)
    finally:
        folder.rmdir()


def empty(record: Path) -> None:
    """Kill every process left in the cgroups listed in `record` (a job's CGROUP_FILE), wait until they
    are gone, then remove the cgroups and the record."""
    try:
        folders = [Path(line) for line in record.read_text(encoding="utf-8").split()]
    except OSError:
        return
    for folder in folders:
        if not folder.name.startswith(KERNEL_CGROUP):
            continue
        for _ in range(100):
            try:
                pids = [int(pid) for pid in (folder / "cgroup.procs").read_text().split()]
            except OSError:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                folder.rmdir()
                break
            except OSError:  # still busy for a moment after the kill
                time.sleep(0.1)
    record.unlink(missing_ok=True)
