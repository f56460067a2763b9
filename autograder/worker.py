"""A grading worker: a long-lived process that runs `nbgrader autograde` for one job at a time.

The parent (pool.py) writes one JSON job per line to stdin and reads one JSON reply per line.
Each job is a self-contained nbgrader course folder prepared by the parent (jobs.py), so workers
never share a gradebook and several can run at once. Importing nbgrader costs seconds; a worker
pays it once and then grades many submissions. Student code never runs here: it runs in the
kernel that nbgrader starts through execute.LimitedKernelManager.
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

from . import sandbox, speedups, tiers
from .jobs import IPC_PATH, PID_PATH, UID_PATH, remove_ipc_folder, remove_template_folder, template_prefix
from .kernel_launcher import THREAD_VARIABLES, die_with_parent, memory_cgroups_work
from .pool import GRADER_PID

speedups.apply()


class _LastError(logging.Handler):
    """Keeps the last line of the last error nbgrader logs (it logs tracebacks as text)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        lines = [line for line in record.getMessage().splitlines() if line.strip()]
        if lines and "Traceback" in record.getMessage():
            self.last = lines[-1].strip()


LOG = logging.getLogger("autograder.worker")
ERRORS = _LastError()


IPC_MB = 4  # size of the socket folder's tmpfs: the kernel can write there, so it must not fill a disk
SHARED_MEMORY = "/dev/shm"  # where the socket folder goes when not grading as root


def _private_folder(uid: int, size_mb: int = IPC_MB, mode: int = 0o700, prefix: str = "kdd-ipc-") -> Path:
    """A new empty folder that only `uid` (the kernel's user) and the grader can use, for the kernel's
    Unix sockets (a short path: a socket's must be under 108 bytes) and, in the uid-only tier, as its
    HOME. The kernel can write there, so it must not fill a disk: as root it is a tmpfs of its own of
    `size_mb`; otherwise it goes in the memory-backed /dev/shm where there is one."""
    memory_backed = not sandbox.is_root() and os.access(SHARED_MEMORY, os.W_OK | os.X_OK)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=SHARED_MEMORY if memory_backed else None))
    if sandbox.is_root():
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
        self.record: Path | None = None  # in the work folder: where the folder is (jobs.clean_leftovers)
        self.failed = False  # it could not start: every kernel of this worker starts afresh

    @classmethod
    def usable(cls, tier: tiers.Tier, kernels: str, memory_mb: int) -> bool:
        """Forking needs root (the template gives each kernel its uid; in the bwrap tier, namespaces too),
        a sandbox tier, memory cgroups (which hold each forked kernel's memory, processes and CPU) and
        MIN_MEMORY_MB."""
        return (kernels == "forked" and bool(tier) and memory_mb >= cls.MIN_MEMORY_MB
                and sandbox.is_root() and memory_cgroups_work() and hasattr(socket, "SCM_CREDENTIALS"))

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
        path = Path(tempfile.mkdtemp(prefix="kdd-ipc-", dir=self.folder))
        os.chown(path, uid, uid)
        return path

    def _start(self, key: tuple, work: Path, tier: tiers.Tier, data_dir: str, tmp_mb: int,
               env: dict[str, str]) -> bool:
        self.key = key
        self.folder = _private_folder(0, IPC_MB, mode=0o711, prefix=template_prefix(os.getpid()))
        self.record = work / f"{self.folder.name}.path"
        self.record.write_text(str(self.folder), encoding="utf-8")
        socket_path = self.folder / "template.sock"
        if tier is tiers.Tier.UID:  # on the machine itself, in the environment its kernels get
            command = tiers.template_command(socket_path)
            environment = tiers.environment(self.folder, dict(os.environ), env)
        else:
            command = sandbox.template_command(socket_path, ipc_dir=self.folder,
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


TEMPLATE = Template()


def autograde(job: dict) -> None:
    """Run nbgrader's autograde converter in the job's course folder (raises on failure)."""
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import Execute
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    from .execute import LimitedExecute

    workdir = Path(job["workdir"])
    limits = job["limits"]
    config = Config()
    if job.get("config_file"):
        path = Path(job["config_file"])
        config.merge(PyFileConfigLoader(path.name, path=str(path.parent)).load_config())
    config.CourseDirectory.root = str(workdir)
    config.CourseDirectory.source_directory = "source"
    config.CourseDirectory.release_directory = "release"
    config.CourseDirectory.submitted_directory = "submitted"
    config.CourseDirectory.autograded_directory = "autograded"
    config.CourseDirectory.feedback_directory = "feedback"
    config.CourseDirectory.db_url = f"sqlite:///{workdir / 'gradebook.db'}"
    config.CourseDirectory.assignment_id = job["assignment"]
    config.CourseDirectory.student_id = job["student"]
    configured = config.Autograde.get("autograde_preprocessors")
    preprocessors = configured or Autograde.class_traits()["autograde_preprocessors"].default()
    config.Autograde.autograde_preprocessors = [LimitedExecute if pp in (Execute, "nbgrader.preprocessors.Execute")
                                                else pp for pp in preprocessors]
    config.LimitedExecute.timeout = limits["cell_seconds"]
    config.LimitedExecute.notebook_seconds = limits["notebook_seconds"]
    config.LimitedExecute.memory_mb = limits["memory_mb"]
    launcher_args = ["--memory-mb", str(limits["memory_mb"]), "--file-mb", str(limits["disk_mb"]),
                     "--threads", str(job["threads"]), "--pidfile", str(workdir / PID_PATH),
                     "--parent", str(os.getpid()),
                     "--cpu-seconds", str(limits["notebook_seconds"] * job["threads"] + 60)]
    manager = config.LimitedKernelManager
    tier = tiers.Tier.of(job.get("sandbox", True))
    manager.sandboxed = bool(tier)
    uid_only = tier is tiers.Tier.UID
    if manager.sandboxed:
        uid = sandbox.claim_uid()  # reserved for this worker's kernels while it lives
        if uid_only:  # whatever an earlier kernel of this uid left (a worker that was killed)
            tiers.become_subreaper()
            tiers.end_job(uid)
            (workdir / UID_PATH).write_text(str(uid), encoding="ascii")  # for jobs.stop_kernel's cleanup
        kernel_env = {name: str(job["threads"]) for name in THREAD_VARIABLES}
        template = (TEMPLATE.socket_for(workdir.parent, tier, job.get("data_dir") or "", limits["disk_mb"],
                                        kernel_env)
                    if Template.usable(tier, job.get("kernels", "forked"), limits["memory_mb"]) else None)
        if template is not None:
            manager.template = str(template)
        if template is not None and not uid_only:  # inside the template's sandbox, where the kernel is forked
            manager.ipc_dir = str(TEMPLATE.job_folder(uid))
        else:
            manager.ipc_dir = str(_private_folder(uid, limits["disk_mb"] if uid_only else IPC_MB))
        (workdir / IPC_PATH).write_text(manager.ipc_dir, encoding="utf-8")  # for jobs.stop_kernel's cleanup
        if uid_only:  # the socket folder is the kernel's HOME: data/ goes there
            tiers.give_data(Path(job["data_dir"]) if job.get("data_dir") else None, Path(manager.ipc_dir), uid)
        manager.uid_only = uid_only
        manager.data_dir = job.get("data_dir") or ""
        manager.uid = uid
        manager.tmp_mb = limits["disk_mb"]
        manager.kernel_env = kernel_env
        launcher_args.append("--sandboxed")
        if sandbox.is_root():  # the kernel has a uid of its own: cap its processes and threads
            launcher_args += ["--nproc", str(limits["processes"])]
    if manager.sandboxed and memory_cgroups_work():  # all its memory (RLIMIT_DATA misses shared memory, tmpfs)
        launcher_args.append("--cgroup")
    else:  # not root, or read-only cgroups (containers): a thread of this worker watches the kernel instead
        manager.watch_memory_mb = limits["memory_mb"]
        manager.watch_threads = limits["processes"]
    manager.launcher_args = launcher_args
    converter = Autograde(coursedir=CourseDirectory(config=config), config=config, log=LOG)
    converter.force = True
    converter.create_student = True
    try:
        converter.start()
    finally:
        if uid_only:  # no PID namespace ends what the kernel started: end every process of its uid
            tiers.end_job(uid)
        remove_ipc_folder(workdir)


def main() -> None:
    if os.environ.get(GRADER_PID):  # a worker never outlives the `grade` run that started it, even on SIGKILL
        die_with_parent(int(os.environ[GRADER_PID]))
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # anything printed by nbgrader or the kernel's process goes to the log, not the protocol
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    LOG.addHandler(ERRORS)
    # nbgrader 0.9 with SQLAlchemy 2 warns about its own session handling; grades are written correctly
    warnings.filterwarnings("ignore", message="Object of type <Submitted")
    try:
        serve(replies)
    finally:
        TEMPLATE.stop()


def serve(replies) -> None:
    """Grade the jobs of stdin, one at a time, until it closes; one reply a line to `replies`."""
    for line in sys.stdin:
        job = json.loads(line)
        started = time.monotonic()
        reply = {"ok": True, "error": None}
        ERRORS.last = None
        LOG.info("job %s", job["workdir"])
        try:
            autograde(job)
        except BaseException as error:  # report every failure to the parent, which decides
            traceback.print_exc()
            reply = {"ok": False, "error": ERRORS.last or f"{type(error).__name__}: {error}".strip()}
        reply["seconds"] = round(time.monotonic() - started, 3)
        sys.stderr.flush()
        replies.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
