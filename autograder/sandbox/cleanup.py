"""After a job, or a `grade` run that was killed: nothing of a kernel's is left on the machine.

What a job's kernel leaves is found through the records in its job folder (names.py): its process
group, its cgroups, its uid in the uid-only tier and its socket folder; kernel templates' folders are
recorded in the work folder. No process is ever signalled by a pid read from an old run's file.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from . import cgroups
from .names import (CGROUP_FILE, IPC_FILE, IPC_FOLDER, PID_FILE, TEMPLATE_FOLDER, TEMPLATE_RECORD, UID_FILE)


def remove_ipc_folder(workdir: Path) -> None:
    """Unmount and delete the job's socket folder (template.py), if it has one."""
    try:
        path = Path((workdir / IPC_FILE).read_text(encoding="utf-8").strip())
    except OSError:
        return
    _unmount_and_remove(path, IPC_FOLDER)
    (workdir / IPC_FILE).unlink(missing_ok=True)


def template_prefix(worker: int) -> str:
    """The name with which the folder of worker `worker`'s kernel template begins (template.Template), in
    the system's temporary folder; a file of that name plus TEMPLATE_RECORD in the work folder records it."""
    return f"{TEMPLATE_FOLDER}{worker}-"


def remove_template_folder(path: Path) -> None:
    """Unmount and delete a kernel template's folder (its template and kernels have ended)."""
    _unmount_and_remove(path, TEMPLATE_FOLDER)


def _unmount_and_remove(path: Path, prefix: str) -> None:
    """Unmount (it may be a tmpfs of its own) and delete a folder of the grader's, told by its name's prefix."""
    if path.name.startswith(prefix):
        if os.path.ismount(path):
            subprocess.run(["umount", "--lazy", str(path)], capture_output=True)
        shutil.rmtree(path, ignore_errors=True)


def remove_template_folders(worker: int, work: Path | None) -> None:
    """Remove the kernel template's folder of a worker that has ended (its template ended with it), and
    its record in the work folder `work`."""
    for path in Path(tempfile.gettempdir()).glob(template_prefix(worker) + "*"):
        remove_template_folder(path)
    for record in work.glob(f"{template_prefix(worker)}*{TEMPLATE_RECORD}") if work is not None else []:
        record.unlink(missing_ok=True)


def stop_kernel(workdir: Path) -> None:
    """Kill the job's kernel process group (and any children it left behind), if still there, and
    remove its socket folder."""
    _kill_kernel(workdir)
    cgroups.empty(workdir / CGROUP_FILE)
    _end_user(workdir)
    remove_ipc_folder(workdir)


def clean_leftovers(work: Path) -> None:
    """Remove what a `grade` run that was killed left in its work folder: job folders, their kernels'
    cgroups and socket folders, its workers' kernel template folders (the kernels and templates
    themselves died with their workers: lifetime.py, bwrap.py).
    No process is signalled by a pid read from an old file: the pid may belong to someone else now."""
    if not work.is_dir():
        return
    for record in work.glob(f"{TEMPLATE_FOLDER}*{TEMPLATE_RECORD}"):  # of workers killed with the run
        remove_template_folder(Path(record.read_text(encoding="utf-8").strip()))
        record.unlink()
    for workdir in sorted(path for path in work.iterdir() if path.is_dir() and path.name != "logs"):
        cgroups.empty(workdir / CGROUP_FILE)
        remove_ipc_folder(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


def _end_user(workdir: Path) -> None:
    """In the uid-only tier, kill every process of the kernel's uid (no PID namespace ends them), unless
    another worker holds that uid by now (which cleans up itself before its next job)."""
    try:
        uid = int((workdir / UID_FILE).read_text(encoding="ascii"))
    except (OSError, ValueError):
        return
    from .tiers import end_abandoned

    end_abandoned(uid)
    (workdir / UID_FILE).unlink(missing_ok=True)


def _kill_kernel(workdir: Path) -> None:
    pidfile = workdir / PID_FILE
    try:
        pgid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
