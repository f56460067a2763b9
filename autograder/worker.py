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
    config.LimitedKernelManager.command_prefix = list(job.get("command_prefix", []))
    config.LimitedKernelManager.launcher_args = [
        "--memory-mb", str(limits["memory_mb"]), "--file-mb", str(limits["disk_mb"]),
        "--threads", str(job["threads"]), "--pidfile", str(workdir / "kernel.pid"),
    ]
    converter = Autograde(coursedir=CourseDirectory(config=config), config=config, log=LOG)
    converter.force = True
    converter.create_student = True
    converter.start()


def main() -> None:
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # anything printed by nbgrader or the kernel's process goes to the log, not the protocol
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    LOG.addHandler(ERRORS)
    # nbgrader 0.9 with SQLAlchemy 2 warns about its own session handling; grades are written correctly
    warnings.filterwarnings("ignore", message="Object of type <Submitted")
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
