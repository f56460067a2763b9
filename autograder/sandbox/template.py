"""The worker's kernel template (zygote.py) in a sandbox of its own, and the kernels' socket folders."""

from __future__ import annotations

import logging
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import bwrap, tiers
from .cgroups import memory_cgroups_work
from .cleanup import remove_template_folder, template_prefix
from .names import IPC_FOLDER, TEMPLATE_RECORD

LOG = logging.getLogger("autograder.worker")


IPC_MB = 4  # size of the socket folder's tmpfs: the kernel can write there, so it must not fill a disk
SHARED_MEMORY = "/dev/shm"  # where the socket folder goes when not grading as root


def private_folder(uid: int, size_mb: int = IPC_MB, mode: int = 0o700, prefix: str = IPC_FOLDER) -> Path:
    """A new empty folder that only `uid` (the kernel's user) and the grader can use, for the kernel's
    Unix sockets (a short path: a socket's must be under 108 bytes) and, in the uid-only tier, as its
    HOME. The kernel can write there, so it must not fill a disk: as root it is a tmpfs of its own of
    `size_mb`; otherwise it goes in the memory-backed /dev/shm where there is one."""
    memory_backed = not bwrap.is_root() and os.access(SHARED_MEMORY, os.W_OK | os.X_OK)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=SHARED_MEMORY if memory_backed else None))
    if bwrap.is_root():
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode={mode:o},uid={uid},gid={uid}",
                                  "kdd-ipc", str(path)], capture_output=True, text=True)
        if mounted.returncode != 0:
            LOG.warning("no tmpfs for %s (%s); the kernel's socket folder is on disk", path, mounted.stderr.strip())
            os.chown(path, uid, uid)
    return path


class Template:
    """The worker's kernel template (zygote.py) in a sandbox of its own: started for the first job that
    can fork its kernel from it, and again when a job needs other settings or it has ended.

    Its folder (a small tmpfs, root's) is bound into its sandbox at the same path: it holds the socket
    on which the template listens (root's) and each job's socket folder (the kernel uid's), made in it
    per job, so that a kernel forked in the template's sandbox finds its connection file.
    """

    READY_SECONDS = 600  # importing TensorFlow on a busy machine; past it, kernels start afresh
    # A forked kernel starts with the template's imports in its data segment (about 300 MB, counted by
    # RLIMIT_DATA as in a kernel that imports TensorFlow itself); below this limit they would take too
    # large a share of it from a notebook that imports little, so kernels start afresh.
    MIN_MEMORY_MB = 1024

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.key: tuple | None = None
        self.folder: Path | None = None
        self.record: Path | None = None  # in the work folder: where the folder is (cleanup.clean_leftovers)
        self.failed = False  # it could not start: every kernel of this worker starts afresh

    @classmethod
    def usable(cls, tier: tiers.Tier, kernels: str, memory_mb: int) -> bool:
        """Forking needs root (the template gives each kernel its uid; in the bwrap tier, namespaces too),
        a sandbox tier, memory cgroups (which hold each forked kernel's memory, processes and CPU) and
        MIN_MEMORY_MB."""
        return (kernels == "forked" and bool(tier) and memory_mb >= cls.MIN_MEMORY_MB
                and bwrap.is_root() and memory_cgroups_work() and hasattr(socket, "SCM_CREDENTIALS"))

    def socket_for(self, work: Path, tier: tiers.Tier, data_dir: str, tmp_mb: int,
                   env: dict[str, str]) -> Path | None:
        """The socket of a running template for these settings (started if need be); None when it cannot run."""
        key = (work, tier, data_dir, tmp_mb, tuple(sorted(env.items())))
        if self.failed:
            return None
        if self.key != key or self.process is None or self.process.poll() is not None:
            self.stop()
            self.failed = not self._start(key, work, tier, data_dir, tmp_mb, env)
            if self.failed:
                self.stop()
                return None
        assert self.folder is not None
        return self.folder / "template.sock"

    def job_folder(self, uid: int) -> Path:
        """A new socket folder for one job's kernel, inside the template's folder."""
        assert self.folder is not None
        path = Path(tempfile.mkdtemp(prefix=IPC_FOLDER, dir=self.folder))
        os.chown(path, uid, uid)
        return path

    def _start(self, key: tuple, work: Path, tier: tiers.Tier, data_dir: str, tmp_mb: int,
               env: dict[str, str]) -> bool:
        self.key = key
        self.folder = private_folder(0, IPC_MB, mode=0o711, prefix=template_prefix(os.getpid()))
        self.record = work / f"{self.folder.name}{TEMPLATE_RECORD}"
        self.record.write_text(str(self.folder), encoding="utf-8")
        socket_path = self.folder / "template.sock"
        if tier is tiers.Tier.UID:  # on the machine itself, in the environment its kernels get
            command = tiers.template_command(socket_path)
            environment = tiers.environment(self.folder, dict(os.environ), env)
        else:
            command = bwrap.template_command(socket_path, ipc_dir=self.folder,
                                               data_dir=Path(data_dir) if data_dir else None, tmp_mb=tmp_mb, env=env)
            environment = None
        started = time.monotonic()
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=sys.stderr,
                                        env=environment, cwd=self.folder)
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], self.READY_SECONDS)
        line = self.process.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            LOG.warning("the kernel template did not start (%s); kernels start afresh",
                        f"exit code {self.process.poll()}" if self.process.poll() is not None else "no answer")
            return False
        LOG.info("kernel template ready in %.1f s in %s", time.monotonic() - started, self.folder)
        return True

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
        if self.folder is not None:
            remove_template_folder(self.folder)
            self.folder = None
        if self.record is not None:
            self.record.unlink(missing_ok=True)
            self.record = None
        self.key = None


TEMPLATE = Template()  # one per worker process
