"""One grading job: a private nbgrader course folder for one submission, and the results read from it.

Layout of a job folder (created by the parent, graded by a worker, read back by the parent):
  source/<a>/...                       copy of the assignment's source folder
  gradebook.db                         copy of the assignment's template gradebook (no students)
  submitted/<student>/<a>/<a>.ipynb    the archived submission, under the name nbgrader expects
  autograded/<student>/<a>/<a>.ipynb   written by nbgrader; its cells' outputs give the messages
  data -> <course>/data                so notebooks find data/ above their working folder (without the
                                       sandbox; inside it, the data is at /data)
  kernel.pid                           the kernel's process group, written by kernel_launcher.py
  ipc.path                             where the worker put the kernel's socket folder (kdd-ipc-*)
  kernel.pid.cgroup                    the kernel's cgroups (memory, pids, cpu), one a line, when grading as root
  kernel.uid                           the kernel's uid, in the uid-only tier (tiers.py; its data/ is then in
                                       the kernel's HOME, the socket folder)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from . import trusted
from .course import AssignmentSpec
from .messages import KERNEL_DIED, NOT_RUN, SLOT, TIMEOUT, allowed
from .trusted import Check

PID_PATH = "kernel.pid"  # written by kernel_launcher.py, which puts its cgroup path next to it:
CGROUP_PATH = PID_PATH + ".cgroup"
IPC_PATH = "ipc.path"  # in a job folder: where the worker put the kernel's socket folder
UID_PATH = "kernel.uid"  # in a job folder of the uid-only tier (tiers.py): the uid the kernel ran as
JOB_STUDENT = "student"  # the id inside a job folder; the real id is attached by the parent
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_MESSAGE = 500
MAX_EVALUE = 2**20  # characters of an error's message read (what is shown comes from its first few thousand)
WITHHELD = "(the message is not shown because it quotes hidden test code)"


def prepare(workdir: Path, spec: AssignmentSpec, template: Path, submission: Path, data_dir: Path | None,
            probes: tuple[Check, list[int]] | None = None) -> list[str]:
    """Create a job folder for grading `submission` as assignment `spec`.

    With `probes` (a check and its seeds: one for a submission, several for a reference job), the
    trusted check's probe cells are added to the job's copy of the notebook; the nonces that mark
    each seed's output are returned.
    """
    if workdir.exists():
        shutil.rmtree(workdir)
    name = spec.name
    shutil.copytree(spec.folder, workdir / "source" / name,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    shutil.copyfile(template / "gradebook.db", workdir / "gradebook.db")
    target = workdir / "submitted" / JOB_STUDENT / name / f"{name}.ipynb"
    target.parent.mkdir(parents=True)
    from .gradebook import RELEASED

    notebook = json.loads(submission.read_bytes())
    restore_grading_metadata(notebook, json.loads((template / RELEASED).read_bytes()))
    nonces: list[str] = []
    if probes is not None:
        check, seeds = probes
        nonces = trusted.add_probes(notebook, check, seeds, {test.grade_id.removeprefix(f"{name}-"): test.grade_id
                                                           for test in spec.tests})
    target.write_text(json.dumps(notebook, ensure_ascii=False), encoding="utf-8")
    if data_dir is not None and data_dir.is_dir():
        (workdir / "data").symlink_to(data_dir.resolve(), target_is_directory=True)
    return nonces


def restore_grading_metadata(notebook: dict, released: dict) -> None:
    """Give every graded cell back the nbgrader metadata it was released with.

    nbgrader restores the source and points of a test cell but trusts the rest of its metadata, and
    fails on a cell whose flags were edited (`grade`, `solution`, `locked`). A cell whose grade id the
    released notebook does not have (a "bonus" cell a student marked as graded) loses its nbgrader
    metadata and is run as an ordinary cell.
    """
    original = {cell["metadata"]["nbgrader"]["grade_id"]: cell["metadata"]["nbgrader"]
                for cell in released["cells"] if "grade_id" in cell.get("metadata", {}).get("nbgrader", {})}
    for cell in notebook.get("cells", []):
        metadata = cell.get("metadata")
        if not isinstance(metadata, dict) or "nbgrader" not in metadata:
            continue
        grade_id = metadata["nbgrader"].get("grade_id") if isinstance(metadata["nbgrader"], dict) else None
        if grade_id in original:
            metadata["nbgrader"] = dict(original[grade_id])
        else:
            del metadata["nbgrader"]


def autograded_notebook(workdir: Path, spec: AssignmentSpec) -> Path:
    return workdir / "autograded" / JOB_STUDENT / spec.name / f"{spec.name}.ipynb"


def remove_ipc_folder(workdir: Path) -> None:
    """Unmount and delete the job's socket folder (see worker.py), if it has one."""
    try:
        path = Path((workdir / IPC_PATH).read_text(encoding="utf-8").strip())
    except OSError:
        return
    if path.name.startswith("kdd-ipc-"):
        if os.path.ismount(path):
            subprocess.run(["umount", "--lazy", str(path)], capture_output=True)
        shutil.rmtree(path, ignore_errors=True)
    (workdir / IPC_PATH).unlink(missing_ok=True)


def template_prefix(worker: int) -> str:
    """The name with which the folder of worker `worker`'s kernel template begins (worker.Template), in
    the system's temporary folder; a file of that name plus ".path" in the work folder records it."""
    return f"kdd-template-{worker}-"


def remove_template_folder(path: Path) -> None:
    """Unmount and delete a kernel template's folder (its template and kernels have ended)."""
    if path.name.startswith("kdd-template-"):
        if os.path.ismount(path):
            subprocess.run(["umount", "--lazy", str(path)], capture_output=True)
        shutil.rmtree(path, ignore_errors=True)


def remove_template_folders(worker: int, work: Path | None) -> None:
    """Remove the kernel template's folder of a worker that has ended (its template ended with it), and
    its record in the work folder `work`."""
    for path in Path(tempfile.gettempdir()).glob(template_prefix(worker) + "*"):
        remove_template_folder(path)
    for record in work.glob(template_prefix(worker) + "*.path") if work is not None else []:
        record.unlink(missing_ok=True)


def stop_kernel(workdir: Path) -> None:
    """Kill the job's kernel process group (and any children it left behind), if still there, and
    remove its socket folder."""
    _kill_kernel(workdir)
    _empty_cgroup(workdir)
    _end_user(workdir)
    remove_ipc_folder(workdir)


def clean_leftovers(work: Path) -> None:
    """Remove what a `grade` run that was killed left in its work folder: job folders, their kernels'
    cgroups and socket folders, its workers' kernel template folders (the kernels and templates
    themselves died with their workers: kernel_launcher.py, sandbox.py).
    No process is signalled by a pid read from an old file: the pid may belong to someone else now."""
    if not work.is_dir():
        return
    for record in work.glob("kdd-template-*.path"):  # of workers killed with the run
        remove_template_folder(Path(record.read_text(encoding="utf-8").strip()))
        record.unlink()
    for workdir in sorted(path for path in work.iterdir() if path.is_dir() and path.name != "logs"):
        _empty_cgroup(workdir)
        remove_ipc_folder(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


def _end_user(workdir: Path) -> None:
    """In the uid-only tier, kill every process of the kernel's uid (no PID namespace ends them), unless
    another worker holds that uid by now (which cleans up itself before its next job)."""
    try:
        uid = int((workdir / UID_PATH).read_text(encoding="ascii"))
    except (OSError, ValueError):
        return
    from .tiers import end_abandoned

    end_abandoned(uid)
    (workdir / UID_PATH).unlink(missing_ok=True)


def _empty_cgroup(workdir: Path) -> None:
    """Kill every process left in the kernel's cgroups (kernel_launcher.py), wait until they are gone,
    then remove the cgroups."""
    try:
        folders = [Path(line) for line in (workdir / CGROUP_PATH).read_text(encoding="utf-8").split()]
    except OSError:
        return
    for folder in folders:
        if not folder.name.startswith("kdd-kernel-"):
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
    (workdir / CGROUP_PATH).unlink(missing_ok=True)


def _kill_kernel(workdir: Path) -> None:
    pidfile = workdir / PID_PATH
    try:
        pgid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def collect(workdir: Path, spec: AssignmentSpec, nonces: tuple[str, ...] | list[str] = ()
            ) -> tuple[list[dict], str | None, list[dict]]:
    """nbgrader's per-test results, a note when a limit stopped the notebook, and the probes' output
    for each nonce."""
    from nbgrader.api import Gradebook, MissingEntry

    notebook_path = autograded_notebook(workdir, spec)
    executed = json.loads(notebook_path.read_text(encoding="utf-8"))
    cells = executed["cells"]
    by_id = {cell["metadata"]["nbgrader"]["grade_id"]: cell for cell in cells
             if "grade_id" in cell.get("metadata", {}).get("nbgrader", {})}
    scores: dict[str, tuple[float | None, float]] = {}
    with Gradebook(f"sqlite:///{workdir / 'gradebook.db'}") as gradebook:
        try:
            submitted = gradebook.find_submission_notebook(spec.name, spec.name, JOB_STUDENT)
        except MissingEntry as error:
            raise RuntimeError(f"nbgrader recorded no grades for the job in {workdir}") from error
        for grade in submitted.grades:
            scores[grade.name] = (grade.auto_score, float(grade.max_score))
    tests = []
    for test in spec.tests:
        score, max_score = scores.get(test.grade_id, (None, test.points))
        score = 0.0 if score is None else float(score)
        cell = by_id.get(test.grade_id, {"outputs": []})
        tests.append({
            "name": test.grade_id,
            "score": score,
            "max_score": max_score,
            "passed": score >= max_score,
            "message": message(cell, spec.hidden_lines, passed=score >= max_score,
                               patterns=spec.message_patterns(test.grade_id)),
        })
    own_cells = [cell for cell in cells if trusted.METADATA not in cell.get("metadata", {})]
    return tests, limit_note(own_cells), [trusted.observations(executed, nonce) for nonce in nonces]


def _clean(text: str, hidden: frozenset[str]) -> str:
    """One line of at most MAX_MESSAGE characters, withheld entirely if it quotes a hidden test."""
    text = " ".join(ANSI.sub("", text).split())
    if "HIDDEN TESTS" in text or any(line in text for line in hidden):
        return WITHHELD
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def message(cell: dict, hidden: frozenset[str], passed: bool, patterns: tuple[str, ...] = ()) -> str:
    """What a learner may see about a test cell: the error's name and a message the test itself writes
    (messages.py), never its traceback."""
    outputs = cell.get("outputs", [])
    for output in outputs:
        if output.get("output_type") == "error":
            ename = str(output.get("ename", "Error"))
            evalue = ANSI.sub("", str(output.get("evalue", ""))[:MAX_EVALUE])  # the kernel chose its length
            if ename == "AssertionError" and not evalue.strip():
                return "AssertionError: a check in this test failed."
            if _clean(evalue, hidden) == WITHHELD:  # judged on all of it, before the cuts of what is shown
                return WITHHELD
            return _clean(allowed(ename, evalue, patterns), hidden)
    for output in outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            text = trusted.output_text(output.get("text"))
            first = next((line for line in text.splitlines() if line.strip()), "")[:SLOT]  # student-made text
            return "The test cell wrote to stderr, which nbgrader scores as a failure: " + _clean(first, hidden)
    if not passed:
        return "Partial credit." if any(o.get("output_type") == "execute_result" for o in outputs) else "Not passed."
    return ""


def limit_note(cells: list[dict]) -> str | None:
    """A sentence for grades.json when a time or memory limit stopped part of the notebook."""
    enames = [output.get("ename") for cell in cells for output in cell.get("outputs", [])
              if output.get("output_type") == "error"]
    notes = []
    if TIMEOUT in enames:
        notes.append(f"{enames.count(TIMEOUT)} cell(s) hit the time limit and were stopped")
    if KERNEL_DIED in enames:
        notes.append("the kernel stopped (memory limit, or the code ended the Python process)")
    if "MemoryError" in enames:
        notes.append("a cell ran out of memory (MemoryError)")
    if NOT_RUN in enames:
        notes.append(f"{enames.count(NOT_RUN)} later cell(s) did not run")
    if not notes:
        return None
    return "Limits reached: " + "; ".join(notes) + ". Scored on the cells that finished."
