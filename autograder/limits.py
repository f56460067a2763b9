"""Per-submission limits: how long, how much memory, how large a file."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace

# The slack on top of the limits, each named once (the README's "notebook limit plus 90 s" is
# grace_seconds + JOB_SLACK_SECONDS).
JOB_SLACK_SECONDS = 30  # the worker's own work around nbgrader's (job folder, gradebook) before it is killed
CPU_SLACK_SECONDS = 60  # CPU time for the kernel's start-up, on top of notebook_seconds on every thread


@dataclass(frozen=True)
class Limits:
    """Limits for grading one submission (defaults fit the book's exercises with room to spare)."""

    notebook_seconds: int = 300  # wall time for running the whole notebook
    cell_seconds: int = 120  # wall time for one cell; a longer cell is interrupted and scored 0
    memory_mb: int = 2048  # the kernel's data segment (heap and anonymous memory, RLIMIT_DATA)
    file_mb: int = 20  # the largest notebook file accepted (Colab notebooks with plots are a few MB)
    disk_mb: int = 256  # the largest file the kernel may write (RLIMIT_FSIZE)
    processes: int = 256  # processes and threads of the kernel's own user (when grading as root)
    grace_seconds: int = 60  # extra time for kernel start-up and bookkeeping before a hard stop

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"limit {name} must be a positive whole number, got {value!r}")

    @property
    def hard_seconds(self) -> int:
        """Wall time after which the grading process is killed outright."""
        return self.notebook_seconds + self.grace_seconds

    @property
    def job_seconds(self) -> int:
        """Wall time after which a grading worker is killed, with the job's kernel: hard_seconds plus slack."""
        return self.hard_seconds + JOB_SLACK_SECONDS

    def cpu_seconds(self, threads: int) -> int:
        """CPU time each of the kernel's processes may use (RLIMIT_CPU)."""
        return self.notebook_seconds * threads + CPU_SLACK_SECONDS

    def for_reference(self, seeds: int) -> Limits:
        """The limits of a reference job: the reference solution runs once, plus one set of the trusted check's
        probes per seed, each set no bigger than the one a student's notebook runs within notebook_seconds.
        The student's notebook limit would stop a job of many seeds on a busy machine, and with it the grading
        of every submission of the assignment."""
        return replace(self, notebook_seconds=self.notebook_seconds * (1 + seeds))

    def key(self) -> str:
        """The limits that can change a grade, as stable text (part of a result's cache key)."""
        return (f"notebook={self.notebook_seconds},cell={self.cell_seconds},memory={self.memory_mb},"
                f"disk={self.disk_mb},processes={self.processes}")


def threads_per_worker(workers: int) -> int:
    """CPU threads each kernel may use so that `workers` kernels share the machine without contention."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))
