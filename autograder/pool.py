"""A pool of worker processes, each running one job at a time: a JSON line in, a JSON line out.

A job that runs past its hard time limit, or whose worker dies, is reported as failed; the worker is
killed, the job is cleaned up after (`Workers.after_job`) and a fresh worker takes the next job. The
batch always goes on. The pool knows nothing of grading: how a worker starts and what is left to
clean up after it come from `Workers` (worker.py has the grading worker's).
"""

from __future__ import annotations

import json
import os
import queue
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable


@dataclass(frozen=True)
class Workers:
    """How to start a worker and what to clean up after it."""

    command: list[str]
    env: dict[str, str]
    cwd: str
    after_job: Callable[[Path], None]  # a job's folder, once its worker replied, was stopped or died
    after_exit: Callable[[int, Path | None], None]  # a worker's pid and the folder of its jobs, once it ended


@dataclass
class Job:
    """What a worker needs (`payload`, sent as JSON) plus the parent's own bookkeeping (`context`)."""

    payload: dict
    hard_seconds: float
    context: dict = field(default_factory=dict)

    @property
    def workdir(self) -> Path:
        return Path(self.payload["workdir"])


class _Worker:
    def __init__(self, log: Path, workers: Workers) -> None:
        self.log_path = log
        self.workers = workers
        self.process: subprocess.Popen | None = None
        self._buffer = b""
        self.work: Path | None = None  # the folder of the jobs it ran, where it records its template's folder

    def ensure_started(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.workers.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                env=self.workers.env, start_new_session=True, cwd=self.workers.cwd)
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
                    self.workers.after_job(job.workdir)
                    return {"ok": False, "killed": True, "seconds": round(time.monotonic() - started, 3),
                            "error": f"grading did not finish within {job.hard_seconds:.0f} s and was stopped"}
                if not selector.select(timeout=remaining):
                    continue
                chunk = os.read(self.process.stdout.fileno(), 65536)
                if not chunk:
                    return self._crashed(job)
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        self.workers.after_job(job.workdir)  # children the student's code left behind
        return json.loads(line)

    def _crashed(self, job: Job) -> dict:
        code = self.process.wait() if self.process else None
        self.workers.after_job(job.workdir)
        if self.process is not None:
            self.workers.after_exit(self.process.pid, self.work)
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
        self.workers.after_exit(self.process.pid, self.work)
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
        self.workers.after_exit(self.process.pid, self.work)
        self.process = None


class WorkerPool:
    """`size` workers; `run` grades jobs concurrently and hands each reply to a callback in this thread."""

    def __init__(self, size: int, log_dir: Path, workers: Workers) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.after_job = workers.after_job
        self.workers = [_Worker(log_dir / f"worker-{index + 1}.log", workers) for index in range(max(1, size))]
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
                self.after_job(job.workdir)
            raise
        for thread in threads:
            thread.join()

    def kill(self) -> None:
        for worker in self.workers:
            worker.kill()

    def close(self) -> None:
        for worker in self.workers:
            worker.close()
