"""A pool of grading workers (worker.py), each grading one job at a time in its own job folder.

A job that runs past its hard time limit, or whose worker dies, is reported as failed; the worker
and the job's kernel process group are killed and a fresh worker takes the next job. The batch
always goes on.
"""

from __future__ import annotations

import json
import os
import queue
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .jobs import remove_template_folders, stop_kernel

PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)
GRADER_PID = "KDD_GRADER_PID"  # environment variable: the process a worker dies with (this one)


@dataclass
class Job:
    """What a worker needs (`payload`, sent as JSON) plus the parent's own bookkeeping (`context`)."""

    payload: dict
    hard_seconds: float
    context: dict = field(default_factory=dict)

    @property
    def workdir(self) -> Path:
        return Path(self.payload["workdir"])


def worker_env() -> dict[str, str]:
    """The environment of a worker: this one, plus what grading needs."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])  # nbgrader runs alembic
    env["PYTHONPATH"] = os.pathsep.join(p for p in [PACKAGE_PARENT, env.get("PYTHONPATH", "")] if p)
    env["KDD_OFFLINE"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env[GRADER_PID] = str(os.getpid())
    return env


class _Worker:
    def __init__(self, log: Path) -> None:
        self.log_path = log
        self.process: subprocess.Popen | None = None
        self._buffer = b""
        self.work: Path | None = None  # the folder of the jobs it ran, where it records its template's folder

    def ensure_started(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "autograder.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=log, env=worker_env(), start_new_session=True, cwd=PACKAGE_PARENT)
        self._buffer = b""

    def run(self, job: Job) -> dict:
        self.ensure_started()
        self.work = job.workdir.parent
        assert self.process is not None and self.process.stdin is not None and self.process.stdout is not None
        started = time.monotonic()
        try:
            self.process.stdin.write((json.dumps(job.payload) + "\n").encode("utf-8"))
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._crashed(job)
        deadline = started + job.hard_seconds
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.kill()
                    stop_kernel(job.workdir)
                    return {"ok": False, "killed": True, "seconds": round(time.monotonic() - started, 3),
                            "error": f"grading did not finish within {job.hard_seconds:.0f} s and was stopped"}
                if not selector.select(timeout=remaining):
                    continue
                chunk = os.read(self.process.stdout.fileno(), 65536)
                if not chunk:
                    return self._crashed(job)
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        stop_kernel(job.workdir)  # children the student's code left behind
        return json.loads(line)

    def _crashed(self, job: Job) -> dict:
        code = self.process.wait() if self.process else None
        stop_kernel(job.workdir)
        if self.process is not None:
            remove_template_folders(self.process.pid, self.work)
        self.process = None
        return {"ok": False, "error": f"the grading worker stopped unexpectedly (exit code {code}); "
                                      f"see {self.log_path}"}

    def kill(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        remove_template_folders(self.process.pid, self.work)
        self.process = None

    def close(self) -> None:
        if self.process is None:
            return
        try:
            self.process.stdin.close()  # type: ignore[union-attr]
            self.process.wait(timeout=10)
        except (subprocess.TimeoutExpired, OSError):
            self.kill()
            return
        # a worker may have ended without its own cleanup: SIGKILL when the thread that started it ended
        remove_template_folders(self.process.pid, self.work)
        self.process = None


class WorkerPool:
    """`size` workers; `run` grades jobs concurrently and hands each reply to a callback in this thread."""

    def __init__(self, size: int, log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.workers = [_Worker(log_dir / f"worker-{index + 1}.log") for index in range(max(1, size))]
        for worker in self.workers:
            worker.ensure_started()  # start now: workers import nbgrader while the parent prepares jobs

    def run(self, jobs: Iterable[Job], on_reply: Callable[[Job, dict], None]) -> None:
        todo: queue.Queue[Job | None] = queue.Queue()
        done: queue.Queue[tuple[Job, dict] | None] = queue.Queue()
        count = 0
        for job in jobs:
            todo.put(job)
            count += 1
        active: list[Job] = []  # jobs in flight, for cleanup on interrupt

        def serve(worker: _Worker) -> None:
            while True:
                job = todo.get()
                if job is None:
                    return
                active.append(job)
                try:
                    reply = worker.run(job)
                except Exception as error:  # a bug here must not lose the job: report it as failed
                    reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
                active.remove(job)
                done.put((job, reply))

        threads = [threading.Thread(target=serve, args=(worker,), daemon=True) for worker in self.workers]
        for _ in threads:
            todo.put(None)
        for thread in threads:
            thread.start()
        try:
            for _ in range(count):
                item = done.get()
                assert item is not None
                on_reply(*item)
        except BaseException:
            self.kill()
            for job in list(active):
                stop_kernel(job.workdir)
            raise
        for thread in threads:
            thread.join()

    def kill(self) -> None:
        for worker in self.workers:
            worker.kill()

    def close(self) -> None:
        for worker in self.workers:
            worker.close()
