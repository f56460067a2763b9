"""The trusted check: points that code in the student's kernel cannot fake.

nbgrader's tests run in the same kernel as the student's code, so that code can switch them off.
The trusted check does not ask the kernel whether a test passed. After each test cell it adds a
probe cell that calls the student's code on inputs drawn at grading time (from a seed the kernel
never saw before) and prints what came back as plain JSON. The same probes run on the reference
solution, in a kernel of its own, with the same seed. This process compares the two: a task is
confirmed when every value agrees. A student whose kernel lies can print anything, but only values
computed correctly on those fresh inputs agree with the reference.

Every submission has a seed of its own, used for no other: seed number n of a course is an HMAC of
n (and of the check's and source's versions) under a secret that only the grader can read, and each
new notebook (new bytes) is given the next number not yet given, recorded in the grader's private
state (`assigned.jsonl`, under a lock, so that concurrent runs never give one number twice). Student
code may learn its seed while it runs and print it, but values computed for it are useless to any
other notebook: a notebook that carries them has other bytes, hence another seed. The reference
values of seeds are computed in reference jobs (the source notebook with one set of probe cells per
seed, REFERENCE_BATCH seeds a job: those just given that lack values, then the next ones to give) and
kept one file per seed, so a lone submission usually finds its values computed already.

Each assignment's probes are `checks/<assignment>.py`: module-level imports and helpers, and one
function `check_<task>(rng, ns)` per graded task, where `rng` is a NumPy generator seeded for this
grading and `ns` is the notebook's global namespace (a probe that changes `ns` puts it back). A
probe returns plain data (numbers, strings, lists, dicts; a dict's keys name what was measured).
The recorded score of a task is nbgrader's score when the check confirms the task, else 0; where
the two disagree, grades.json says so (`flags`).
"""

from __future__ import annotations

import ast
import builtins
import fcntl
import hashlib
import hmac
import json
import math
import os
import secrets
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

from . import bounded
from .files import atomic_write, create_once
from .model import TestResult

CHECKS = Path(__file__).with_name("checks")
METADATA = "kdd_trusted_check"  # cell metadata key of a probe cell: {"task": ..., "nonce": ...}
RTOL, ATOL = 1e-4, 1e-6  # float tolerance between the student's values and the reference's
MAX_RESULT = 1_000_000  # characters of one probe's result line (a cell keeps 1 MB of output anyway)
MAX_DEPTH = 32  # nesting of lists and dicts in a result (a matrix is 2)
MAX_DIGITS = 100  # characters of a number in a result (an int64 has 19 digits, a float's repr at most 24)
REFERENCE_BATCH = 12  # seeds probed by one reference job (each adds its probes' time to that job)

PROBE_CELL = '''\
# Added by the grader: its trusted check of task {task!r}.
def _kdd_trusted_check():
    import json, numpy
    scope = {{"__name__": "kdd_trusted_check"}}
    try:
        exec(compile({source!r}, "trusted_check.py", "exec"), scope)
        value = {{"value": scope["check_{task}"](numpy.random.default_rng({seed}), globals())}}
    except BaseException as error:
        value = {{"error": (type(error).__name__ + ": " + str(error))[:300]}}
    plain = lambda thing: thing.tolist() if hasattr(thing, "tolist") else repr(thing)
    print({nonce!r}, json.dumps(value, default=plain))
_kdd_trusted_check()
del _kdd_trusted_check
'''


@dataclass(frozen=True)
class Check:
    """The probes of one assignment."""

    assignment: str
    source: str
    tasks: tuple[str, ...]
    sha256: str


def load(assignment: str, folder: Path = CHECKS) -> Check | None:
    """The assignment's check module, or None when it has none."""
    path = folder / f"{assignment}.py"
    if not path.exists():
        return None
    source = path.read_text(encoding="utf-8")
    tasks = tuple(node.name.removeprefix("check_") for node in ast.parse(source).body
                  if isinstance(node, ast.FunctionDef) and node.name.startswith("check_"))
    return Check(assignment, source, tasks, hashlib.sha256(source.encode("utf-8")).hexdigest())


def secret(folder: Path) -> bytes:
    """The grader's secret (created once, readable only by the grader); seeds derive from it."""
    path = folder / "trusted-secret"
    if not path.exists():  # grading runs started at once all use the first one written
        create_once(path, secrets.token_hex(32))
    return path.read_text(encoding="ascii").strip().encode("ascii")


VERSION_NUMBER = -1  # never given to a submission: its seed names a check version (folder names) without revealing seeds


def seed(key: bytes, check: Check, source_sha256: str, number: int) -> int:
    """Seed number `number` of an assignment's probes: unpredictable without the secret."""
    text = f"{check.assignment}|{check.sha256}|{source_sha256}|{number}"
    return int.from_bytes(hmac.new(key, text.encode(), hashlib.sha256).digest()[:8], "big")


def fingerprint(check: Check, seed_value: int) -> str:
    """Names a seed and check version without revealing the seed (cache keys, reference files)."""
    return hashlib.sha256(f"{check.sha256}|{seed_value}".encode()).hexdigest()[:16]


def add_probes(notebook: dict, check: Check, seeds: list[int], test_ids: dict[str, str]) -> list[str]:
    """Insert after each task's test cell (`test_ids`: task -> grade id) one probe cell per seed, and
    drop cells posing as probe cells; return the nonce that marks each seed's output."""
    nonces = ["kdd-trusted-" + secrets.token_hex(8) for _ in seeds]
    cells = [cell for cell in notebook["cells"] if METADATA not in cell.get("metadata", {})]
    by_grade_id = {cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"): index
                   for index, cell in enumerate(cells)}
    for task in sorted(check.tasks, key=lambda name: -by_grade_id.get(test_ids.get(name), -1)):
        index = by_grade_id.get(test_ids.get(task))
        if index is None:
            continue  # detect.py rejects notebooks without their test cells; nothing to probe here
        probes = [{"cell_type": "code", "id": uuid.uuid4().hex[:16], "execution_count": None,
                   "metadata": {METADATA: {"task": task, "nonce": nonce}}, "outputs": [],
                   "source": PROBE_CELL.format(task=task, source=check.source, seed=value, nonce=nonce)}
                  for value, nonce in zip(seeds, nonces)]
        cells[index + 1:index + 1] = probes
    notebook["cells"] = cells
    return nonces


def observations(notebook: dict, nonce: str) -> dict[str, dict]:
    """What each probe cell of an executed notebook printed: task -> {"value": ...} or {"error": ...}.

    The kernel decides what is printed, so parsing is bounded: a result line of at most MAX_RESULT
    characters, nested at most MAX_DEPTH deep, with numbers of at most MAX_DIGITS characters; anything else
    is an error observation (the task is not confirmed), never an exception.
    """
    found: dict[str, dict] = {}
    for cell in _list(notebook.get("cells")):
        meta = _dict(_dict(cell).get("metadata")).get(METADATA)
        if not isinstance(meta, dict) or meta.get("nonce") != nonce or not isinstance(meta.get("task"), str):
            continue
        text = "".join(output_text(output.get("text")) for output in map(_dict, _list(cell.get("outputs")))
                       if output.get("output_type") == "stream" and output.get("name") == "stdout")
        lines = [line[len(nonce) + 1:] for line in text.splitlines() if line.startswith(nonce + " ")]
        if len(lines) != 1:
            found[meta["task"]] = {"error": "the check printed no result" if not lines else "several results"}
            continue
        value = parse_result(lines[0])
        found[meta["task"]] = value if isinstance(value, dict) else {"error": "malformed result"}
    return found


def parse_result(line: str) -> object:
    """A probe's printed JSON, or {"error": why} when it is too long, too deep, too large or not JSON."""
    if len(line) > MAX_RESULT:
        return {"error": f"the check's result is over {MAX_RESULT} characters"}
    try:
        return bounded.loads(line, max_depth=MAX_DEPTH, max_digits=MAX_DIGITS)
    except bounded.Refused as error:
        return {"error": f"the check's result holds {error}"}
    except ValueError:
        return {"error": "the check's result is not valid JSON"}


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def output_text(value: object) -> str:
    """A notebook output's text: a string, or a list of strings (anything else is no text)."""
    if isinstance(value, str):
        return value
    return "".join(part for part in _list(value) if isinstance(part, str))


def difference(observed: object, expected: object, path: str = "", depth: int = 0) -> str | None:
    """None when `observed` agrees with `expected`, else where they first differ (never raises)."""
    where = path or "the result"
    if depth > MAX_DEPTH:
        return where
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return None if observed == expected and type(observed) is type(expected) else where
    if isinstance(expected, (int, float)):
        if isinstance(observed, bool) or not isinstance(observed, (int, float)):
            return where
        try:
            if math.isnan(expected) or math.isnan(observed):
                return None if math.isnan(expected) and math.isnan(observed) else where
            return None if math.isclose(observed, expected, rel_tol=RTOL, abs_tol=ATOL) else where
        except OverflowError:  # an integer too large for a float
            return None if observed == expected else where
    if isinstance(expected, list):
        if not isinstance(observed, list) or len(observed) != len(expected):
            return where
        for index, (mine, theirs) in enumerate(zip(observed, expected)):
            if (found := difference(mine, theirs, f"{where}[{index}]", depth + 1)) is not None:
                return found
        return None
    if isinstance(expected, dict):
        if not isinstance(observed, dict) or set(observed) != set(expected):
            return where
        for key in expected:
            if (found := difference(observed[key], expected[key], key, depth + 1)) is not None:
                return found
        return None
    return where


def verdict(observed: dict | None, expected: dict) -> str | None:
    """None when a task is confirmed, else a sentence for the student (no values: they are secret)."""
    if observed is None:
        return "the grader's check of this task did not run (an earlier cell stopped the notebook)"
    if "error" in observed:  # its text may come from student code: name only a built-in exception type
        name = str(observed["error"]).split(":", 1)[0]
        kind = name if isinstance(getattr(builtins, name, None), type) else "an error"
        return f"your code raised {kind} in the grader's check of this task"
    place = difference(observed.get("value"), expected.get("value"))
    if place is None:
        return None
    return (f"on inputs drawn at grading time, {place} differs from the reference solution's (the visible and "
            "nbgrader tests can pass while this check fails if the code only works on the examples shown)")


@dataclass
class Plan:
    """The trusted check of one assignment in one `grade` run: seeds, and reference values per seed."""

    check: Check | None
    key: bytes = b""  # the grader's secret
    source_sha256: str = ""
    folder: Path | None = None  # where reference values are kept, one file per seed
    fingerprint: str = "unchecked"  # names the check version and secret (part of result cache keys)
    expected: dict[str, dict] = field(default_factory=dict)  # seed fingerprint -> task -> observation
    problem: str | None = None  # a reference job failed (the instructor must look)
    numbers: dict[str, int] = field(default_factory=dict)  # submission sha256 -> its seed's number
    spare_seeds: bool = True  # reference jobs also compute seeds still to be given (the state folder is kept)
    where: str = ""  # where the check would be, as a flag names it

    def seed(self, submission_sha256: str) -> int:
        """The seed of a submission given a number (`give`)."""
        return self._seed(self.numbers[submission_sha256])

    def _seed(self, number: int) -> int:
        assert self.check is not None
        return seed(self.key, self.check, self.source_sha256, number)

    def probe_id(self, seed_value: int) -> str:
        assert self.check is not None
        return fingerprint(self.check, seed_value)

    def cache_key(self, submission_sha256: str) -> str:
        """What a cached result depends on of the check: its version and the submission's seed."""
        if self.check is None:
            return self.fingerprint
        return f"{self.fingerprint}/{self.probe_id(self.seed(submission_sha256))}"

    def give(self, submissions: list[str]) -> None:
        """Give each submission (sha256) without a seed number the next number no submission has had."""
        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "assigned.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another `grade` run on this course may be giving numbers too
            self.numbers = _read_numbers(self.folder / "assigned.jsonl")
            first = self.next_number()
            new = {sha: first + index for index, sha in enumerate(sorted(set(submissions) - set(self.numbers)))}
            lines = "".join(json.dumps({"sha256": sha, "number": number}) + "\n" for sha, number in new.items())
            with open(self.folder / "assigned.jsonl", "a", encoding="utf-8") as handle:
                handle.write(lines)
                handle.flush()
                os.fsync(handle.fileno())
            self.numbers.update(new)

    def next_number(self) -> int:
        return max(self.numbers.values(), default=-1) + 1

    def _values(self, seed_value: int) -> dict | None:
        probe = self.probe_id(seed_value)
        if probe not in self.expected and self.folder is not None and (self.folder / f"{probe}.json").exists():
            self.expected[probe] = json.loads((self.folder / f"{probe}.json").read_text(encoding="utf-8"))
        return self.expected.get(probe)

    def expected_for(self, submission_sha256: str) -> dict | None:
        """The reference's observations for this submission's seed, when computed (now or before)."""
        if self.check is None or submission_sha256 not in self.numbers:
            return None
        return self._values(self.seed(submission_sha256))

    def seeds_to_compute(self, submissions: list[str]) -> list[list[int]]:
        """Batches of seeds for reference jobs: the submissions' seeds that lack values, each batch
        filled up with the next seeds still to be given (computed now, so later submissions find them)."""
        missing = sorted({self.seed(sha) for sha in submissions if self.expected_for(sha) is None})
        if not missing:
            return []
        spare = self.next_number()
        while self.spare_seeds and len(missing) % REFERENCE_BATCH:
            if self._values(self._seed(spare)) is None:
                missing.append(self._seed(spare))
            spare += 1
        return [missing[start:start + REFERENCE_BATCH] for start in range(0, len(missing), REFERENCE_BATCH)]


def _read_numbers(path: Path) -> dict[str, int]:
    """The seed numbers given so far (a line cut short by a killed run is ignored: its number was not used)."""
    numbers: dict[str, int] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                numbers.setdefault(str(entry["sha256"]), int(entry["number"]))
            except (ValueError, KeyError, TypeError):
                continue
    return numbers


def plan(assignment: str, source_sha256: str, state: Path, spare_seeds: bool = True, folder: Path = CHECKS) -> Plan:
    """The check of an assignment (in `folder`: Course.checks_dir), its secret and where its reference values
    live; `state` is private. `spare_seeds=False` computes no values for later submissions (a state folder used
    only once)."""
    check = load(assignment, folder)
    if check is None:
        return Plan(None, where=f"autograder/checks/{assignment}.py" if folder == CHECKS
                    else f"checks/{assignment}.py of the course")
    key = secret(state)
    version = fingerprint(check, seed(key, check, source_sha256, VERSION_NUMBER))
    return Plan(check, key, source_sha256, state / "trusted" / f"{assignment}-{version}", version,
                spare_seeds=spare_seeds)


def record_reference(assignment: str, current: Plan, seed_value: int, observed: dict[str, dict]) -> None:
    """Keep the reference solution's observations for one seed, or say why the check cannot be used."""
    assert current.check is not None and current.folder is not None
    broken = {task: observed.get(task, {"error": "did not run"}).get("error") for task in current.check.tasks
              if "value" not in observed.get(task, {})}
    if broken:
        task, error = next(iter(broken.items()))
        current.problem = (f"the trusted check of '{assignment}' does not work on the reference solution (task "
                           f"{task}: {error}); fix autograder/checks/{assignment}.py")
        return
    probe = current.probe_id(seed_value)
    current.expected[probe] = observed
    atomic_write(current.folder / f"{probe}.json", json.dumps(observed, indent=1))


def apply(assignment: str, tests: Iterable[TestResult], observed: dict | None, current: Plan,
          submission_sha256: str) -> tuple[list[TestResult], list[str]]:
    """The tests with each task's score capped by the trusted check, and flags where the two disagree."""
    unchecked = [replace(test, trusted=None) for test in tests]
    if current.check is None:
        return unchecked, [f"'{assignment}' has no trusted check ({current.where or 'checks/'}): the score "
                           "is nbgrader's alone, which student code can fool"]
    expected = current.expected_for(submission_sha256)
    if expected is None:  # the reference is not known yet (progress lines only)
        return unchecked, []
    capped, flags = [], []
    for test in unchecked:
        task = test.name.removeprefix(f"{assignment}-")
        if task not in expected:
            capped.append(test)
            continue
        why = verdict((observed or {}).get(task), expected[task])
        test = replace(test, trusted=why is None)
        if why is not None and test.score > 0:
            flags.append(f"{test.name}: nbgrader gave {test.score:g} point(s) but the trusted check did not "
                         f"confirm the task ({why}); recorded 0")
            test = replace(test, score=0.0, passed=False, message=f"Not confirmed by the grader's own check: {why}.")
        elif why is None and not test.passed:
            flags.append(f"{test.name}: the trusted check confirmed the task but nbgrader's test did not pass "
                         "it; nbgrader's score is kept")
        capped.append(test)
    return capped, flags
