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
import sys
import time
import traceback
import warnings
from pathlib import Path

from . import speedups
from .sandbox import bwrap, tiers
from .sandbox.cgroups import memory_cgroups_work
from .limits import Limits
from .pool import Workers
from .sandbox.cleanup import remove_ipc_folder, remove_template_folders, stop_kernel
from .sandbox.lifetime import die_with_parent
from .sandbox.names import GRADER_PID, IPC_FILE, PID_FILE, THREAD_VARIABLES, UID_FILE
from .sandbox.template import IPC_MB, TEMPLATE, Template, private_folder

speedups.apply()

PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


def workers() -> Workers:
    """How the pool starts a grading worker (this module, in a process of its own) and cleans up after it:
    the job's kernel after each job, the worker's kernel template once it has ended."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])  # nbgrader runs alembic
    env["PYTHONPATH"] = os.pathsep.join(p for p in [PACKAGE_PARENT, env.get("PYTHONPATH", "")] if p)
    env["KDD_OFFLINE"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env[GRADER_PID] = str(os.getpid())  # the process a worker dies with (this one)
    return Workers([sys.executable, "-m", "autograder.worker"], env, PACKAGE_PARENT, after_job=stop_kernel,
                   after_exit=remove_template_folders)


class _LastError(logging.Handler):
    """Keeps the last line of the last error nbgrader logs (it logs tracebacks as text)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        lines = [line for line in record.getMessage().splitlines() if line.strip()]
        if lines and "Traceback" in record.getMessage():
            self.last = lines[-1].strip()


class _HiddenChecksums(logging.Filter):
    """Drops nbgrader's "Attribute 'checksum' for cell X has changed!" for the test cells that hold hidden tests:
    nbgrader computes their checksums before it takes the hidden tests out of the student version, so they
    differ for every submission (and the cell is replaced by the source's anyway). Other cells still warn."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: frozenset[str] = frozenset()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Attribute 'checksum' for cell ")
                    and message.split("for cell ", 1)[1].split(" has changed", 1)[0] in self.cells)


LOG = logging.getLogger("autograder.worker")
ERRORS = _LastError()
CHECKSUMS = _HiddenChecksums()


def autograde(job: dict) -> None:
    """Run nbgrader's autograde converter in the job's course folder (raises on failure)."""
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import Execute

    from .course import nbgrader_config
    from .sandbox.execute import LimitedExecute

    workdir = Path(job["workdir"])
    limits = job["limits"]
    config = nbgrader_config(workdir, job["assignment"], db_url=f"sqlite:///{workdir / 'gradebook.db'}",
                             config_file=Path(job["config_file"]) if job.get("config_file") else None)
    config.CourseDirectory.submitted_directory = "submitted"
    config.CourseDirectory.autograded_directory = "autograded"
    config.CourseDirectory.feedback_directory = "feedback"
    config.CourseDirectory.student_id = job["student"]
    configured = config.Autograde.get("autograde_preprocessors")
    preprocessors = configured or Autograde.class_traits()["autograde_preprocessors"].default()
    config.Autograde.autograde_preprocessors = [LimitedExecute if pp in (Execute, "nbgrader.preprocessors.Execute")
                                                else pp for pp in preprocessors]
    config.LimitedExecute.timeout = limits["cell_seconds"]
    config.LimitedExecute.notebook_seconds = limits["notebook_seconds"]
    config.LimitedExecute.memory_mb = limits["memory_mb"]
    launcher_args = ["--memory-mb", str(limits["memory_mb"]), "--file-mb", str(limits["disk_mb"]),
                     "--threads", str(job["threads"]), "--pidfile", str(workdir / PID_FILE),
                     "--parent", str(os.getpid()),
                     "--cpu-seconds", str(Limits(**limits).cpu_seconds(job["threads"]))]
    manager = config.LimitedKernelManager
    tier = tiers.Tier.of(job.get("sandbox", True))
    manager.sandboxed = bool(tier)
    uid_only = tier is tiers.Tier.UID
    if manager.sandboxed:
        uid = bwrap.claim_uid()  # reserved for this worker's kernels while it lives
        if uid_only:  # whatever an earlier kernel of this uid left (a worker that was killed)
            tiers.become_subreaper()
            tiers.end_job(uid)
            (workdir / UID_FILE).write_text(str(uid), encoding="ascii")  # for cleanup.stop_kernel
        kernel_env = {name: str(job["threads"]) for name in THREAD_VARIABLES}
        template = (TEMPLATE.socket_for(workdir.parent, tier, job.get("data_dir") or "", limits["disk_mb"],
                                        kernel_env)
                    if Template.usable(tier, job.get("kernels", "forked"), limits["memory_mb"]) else None)
        if template is not None:
            manager.template = str(template)
        if template is not None and not uid_only:  # inside the template's sandbox, where the kernel is forked
            manager.ipc_dir = str(TEMPLATE.job_folder(uid))
        else:
            manager.ipc_dir = str(private_folder(uid, limits["disk_mb"] if uid_only else IPC_MB))
        (workdir / IPC_FILE).write_text(manager.ipc_dir, encoding="utf-8")  # for cleanup.stop_kernel
        if uid_only:  # the socket folder is the kernel's HOME: data/ goes there
            tiers.give_data(Path(job["data_dir"]) if job.get("data_dir") else None, Path(manager.ipc_dir), uid)
        manager.uid_only = uid_only
        manager.data_dir = job.get("data_dir") or ""
        manager.uid = uid
        manager.tmp_mb = limits["disk_mb"]
        manager.kernel_env = kernel_env
        launcher_args.append("--sandboxed")
        if bwrap.is_root():  # the kernel has a uid of its own: cap its processes and threads
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
    LOG.addFilter(CHECKSUMS)
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
        CHECKSUMS.cells = frozenset(job.get("hidden_cells", ()))
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
