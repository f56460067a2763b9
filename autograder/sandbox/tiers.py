"""Sandbox tiers: how much isolation student code gets on this machine, and the uid-only tier.

`choose` takes the strongest tier that works here, and refuses when there is none:

  bwrap   Linux namespaces through bubblewrap (bwrap.py): the kernel sees only what it needs, has
          no network and a PID namespace of its own; as root, also a uid of its own.
  uid     root without namespaces (Gradescope's and most Docker containers, some CI runners): the
          kernel runs on the machine's own file system and network as an unprivileged uid of its own
          (`setpriv`: no groups, no capabilities, no_new_privs; the bwrap tier's seccomp filter), in a
          private, empty HOME and TMPDIR (its socket folder: a size-limited tmpfs where mounting
          works), under the same limits (launcher.py; a uid of its own makes RLIMIT_NPROC the
          kernel's own). Without a mount namespace only file permissions keep grader files out of
          reach, so before grading `protect` makes the grader's own folders private and checks, as
          that uid, that no grader file can be read or written; after each job `end_job` kills every
          process of the uid and removes what it left in the machine's shared temporary folders.
          The network is NOT cut. As root with memory cgroups, kernels are forked from the worker's
          kernel template (zygote.py, started by `template_command`), into exactly this setting.
  unsafe  no isolation (`--unsafe`, for notebooks the instructor trusts).

Without root and without namespaces no tier isolates student code: `choose` refuses unless told
`unsafe`.
"""

from __future__ import annotations

import ctypes
import enum
import fcntl
import functools
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import bwrap
from ..model import UsageError
from .names import PR_SET_CHILD_SUBREAPER
from .watchdog import processes_of

SHARED_TEMP = ("/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue", "/run/lock")  # folders every user may write
SYSV_IPC = {"shm": "shmctl", "msg": "msgctl", "sem": "semctl"}  # /proc/sysvipc/<kind> -> libc call that removes
IPC_RMID = 0
_subreaper = False  # whether this process adopts (and so must reap) the orphans of its kernels


class Tier(str, enum.Enum):
    """Where student code runs; true when it is isolated from the grader (so `if sandboxed:` reads right)."""

    BWRAP = "bwrap"
    UID = "uid"
    UNSAFE = "unsafe"

    def __bool__(self) -> bool:
        return self is not Tier.UNSAFE

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def of(cls, value: object) -> Tier:
        """The tier a job names (older jobs said True for the sandbox, False for none)."""
        if isinstance(value, bool):
            return cls.BWRAP if value else cls.UNSAFE
        return cls(value)


def setpriv() -> str:
    return "/usr/bin/setpriv" if Path("/usr/bin/setpriv").exists() else (shutil.which("setpriv") or "setpriv")


def drop_to(uid: int) -> list[str]:
    """The `setpriv` prefix that runs a command as `uid`, with no groups, capabilities or way to gain any."""
    return [setpriv(), f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs"]


@functools.lru_cache(maxsize=1)
def uid_unavailable() -> str | None:
    """None when the uid-only tier works on this machine, else why not (checked once per process)."""
    if not sys.platform.startswith("linux"):
        return f"it needs Linux; this is {sys.platform}"
    if not bwrap.is_root():
        return "it needs root (to give each kernel a uid of its own)"
    if shutil.which("setpriv") is None and not Path("/usr/bin/setpriv").exists():
        return "`setpriv` (util-linux) is not installed"
    uid = bwrap.claim_uid()
    try:  # the kernel's own start: the filter's process, already the uid, starts the kernel's Python
        done = subprocess.run([*drop_to(uid), "--", *bwrap.filtered([sys.executable, "-c", "import ipykernel"])],
                              cwd="/", env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, capture_output=True,
                              text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"a process as uid {uid} could not start ({error})"
    if done.returncode != 0:
        private = next((str(folder) for path in (Path(sys.executable), Path(sys.executable).resolve())
                        for folder in reversed(path.parents) if not _may(folder, uid, 0o1)), None)
        why = (f"{private} is private to its owner" if private else
               (done.stderr.strip().splitlines() or ["no message"])[-1])
        return f"the kernel's user (uid {uid}) cannot run {sys.executable}: {why}"
    return None


def choose(unsafe: bool = False) -> Tier:
    """The strongest tier that works here (bwrap, then uid), UNSAFE when asked; refuses when none works."""
    if unsafe:
        return Tier.UNSAFE
    no_bwrap = bwrap.unavailable()
    if no_bwrap is None:
        return Tier.BWRAP
    no_uid = uid_unavailable()
    if no_uid is None:
        return Tier.UID
    raise UsageError(f"student code cannot be isolated on this machine. The bubblewrap sandbox: {no_bwrap}. "
                     f"The uid-only sandbox (for root without namespaces): {no_uid}. Grading without a sandbox "
                     "lets a student's code read the hidden tests and change other students' grades; pass "
                     "--unsafe only if you trust every notebook.")


def describe(tier: Tier) -> str:
    """One line for logs and the summary: where student code runs, and what that does not stop."""
    if tier is Tier.BWRAP:
        return bwrap.describe()
    if tier is Tier.UID:
        return (f"uid-only sandbox (no namespaces on this machine, so no bubblewrap): each kernel runs as a uid "
                f"of its own from {bwrap.UID_BASE} (no groups, no capabilities, no_new_privs) in a private "
                "folder, under the same limits, with the grader's files private to root, and every process of "
                "that uid is killed after each job. The network is NOT cut in this tier: student code can "
                "reach the network and this machine's services")
    return ("no sandbox (--unsafe): student code runs with the grader's rights and can read the hidden tests and "
            "solutions, use the network and change files, including grades and feedback")


# --- the kernel's command, folder and data ------------------------------------------------------------------

def command(kernel: list[str], *, uid: int, home: Path, inherited: dict[str, str],
            env: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run `kernel` as `uid` in `home` (its HOME, TMPDIR and working
    folder), under the bwrap tier's seccomp filter (entry.py)."""
    return [*drop_to(uid), "--pdeathsig", "KILL", "--", *bwrap.filtered(kernel)], environment(home, inherited, env)


def environment(home: Path, inherited: dict[str, str], env: dict[str, str] | None = None) -> dict[str, str]:
    """A kernel's environment in this tier: `inherited` cut to the variables the bwrap tier passes, plus
    `env`, with `home` as its HOME and TMPDIR."""
    clean = {name: inherited[name] for name in bwrap.ENV_KEEP if name in inherited}
    clean.update(env or {})
    clean.update(HOME=str(home), TMPDIR=str(home), USER="student", MPLCONFIGDIR=str(home / ".config" / "matplotlib"),
                 PATH=os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]))
    return clean


def template_command(socket_path: Path) -> list[str]:
    """The command that starts the kernel template (zygote.py) in this tier: as root on the machine,
    killed with the worker that starts it; it drops to each kernel's uid itself."""
    return [setpriv(), "--pdeathsig", "KILL", "--", sys.executable, str(bwrap.TEMPLATE), str(socket_path)]


def give_data(data_dir: Path | None, home: Path, uid: int) -> None:
    """Put the course's data/ at `home`/data, where the notebooks look for it: a link when `uid` can
    read it where it is, else a copy (the grader keeps its own folders private in this tier)."""
    if data_dir is None or not data_dir.is_dir():
        return
    target = home / "data"
    if _may(data_dir, uid, 0o5) and all(_may(folder, uid, 0o1) for folder in data_dir.resolve().parents):
        target.symlink_to(data_dir.resolve(), target_is_directory=True)
    else:
        shutil.copytree(data_dir, target, ignore=shutil.ignore_patterns(".*"))
        for path in [target, *target.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def _may(path: Path, uid: int, bits: int) -> bool:
    """Whether `uid` (no groups) has the permission `bits` (0o4 read, 0o2 write, 0o1 search) on `path`."""
    try:
        info = path.stat()
    except OSError:
        return False
    mode = info.st_mode
    granted = (mode >> 6) & 7 if info.st_uid == uid else (mode >> 3) & 7 if info.st_gid == uid else mode & 7
    return granted & bits == bits


# --- grader files out of the kernel's reach -------------------------------------------------------------------

def make_private(folder: Path) -> None:
    """Take away every permission of group and others from `folder` (its content is then out of reach)."""
    folder.chmod(stat.S_IMODE(folder.stat().st_mode) & 0o700)


def exposed(uid: int, paths: list[Path]) -> list[Path]:
    """Those of `paths` that a process of `uid` (no groups) can read or write, tried as that uid."""
    existing = [str(path) for path in paths if path.exists()]
    if not existing:
        return []
    script = 'for p do if [ -r "$p" ] || [ -w "$p" ]; then printf "%s\\0" "$p"; fi; done'
    done = subprocess.run([*drop_to(uid), "--", "/bin/sh", "-c", script, "sh", *existing], cwd="/",
                          env={"PATH": "/usr/bin:/bin"}, capture_output=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"could not check file permissions as uid {uid}: {done.stderr.decode(errors='replace')}")
    return [Path(path) for path in done.stdout.decode().split("\0") if path]


def protect(own: list[Path], secret: list[Path]) -> None:
    """Make the grader's own folders `own` private, then refuse to grade if a process of a kernel's
    uid could still read or write any of `own` and `secret` (the course's solutions, checks, inputs)."""
    for folder in own:
        if folder.is_dir():
            make_private(folder)
    reachable = exposed(bwrap.claim_uid(), [*own, *secret])
    if reachable:
        names = " ".join(str(path) for path in reachable)
        raise UsageError(f"student code would run here as an ordinary user of this machine (the uid-only sandbox: "
                         f"no namespaces), and every user can read {names}: run `chmod -R go-rwx {names}` (and "
                         "keep other copies of the solutions, such as a git checkout's .git, private too), or "
                         "grade where bubblewrap works.")


# --- after a job: nothing of the kernel's uid survives ----------------------------------------------------

def become_subreaper() -> None:
    """Adopt the orphans of this process's kernels (a worker's), so that `kill_user` can reap them: left
    to the machine's init, which in some containers reaps late or never, a dead process still counts
    towards its uid's process limit, and the next kernel of that uid could not start."""
    global _subreaper
    if not _subreaper and sys.platform.startswith("linux"):
        _subreaper = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def end_job(uid: int) -> None:
    """Kill every process of `uid` and remove what it left in shared temporary folders and System V IPC."""
    if not bwrap.UID_BASE <= uid < bwrap.UID_BASE + bwrap.UID_COUNT:
        raise ValueError(f"uid {uid} is not a sandbox uid: refusing to end its processes and remove its files")
    kill_user(uid)
    for top in dict.fromkeys([tempfile.gettempdir(), *SHARED_TEMP]):
        _remove_owned(Path(top), uid, depth=3)
    _remove_sysv_ipc(uid)


def end_abandoned(uid: int) -> None:
    """`end_job`, unless another process holds `uid` now (its worker then cleans up before its next job)."""
    try:
        handle = open(bwrap.UID_LOCKS / f"{uid}.lock", "a")
    except OSError:
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        end_job(uid)


def kill_user(uid: int) -> None:
    """SIGKILL every process of `uid`: kill(-1) as that uid reaches them all at once, so not even a fork
    bomb can start one in between; repeated until none is left."""
    if uid == 0:
        raise ValueError("refusing to kill every process of root")
    for _ in range(100):
        if not processes_of(uid):
            break
        child = os.fork()
        if child == 0:  # only system calls here: safe in a child of a threaded process
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        time.sleep(0.05)  # killed processes take a moment to be gone
    else:
        raise RuntimeError(f"processes of uid {uid} survived SIGKILL: {processes_of(uid)}")
    for _ in range(100):  # the dead count towards the uid's process limit until they are reaped
        _reap_orphans()
        if not processes_of(uid, zombies=True):
            return
        time.sleep(0.05)


def _reap_orphans() -> None:
    """Reap every dead child of this process, when it adopts orphans (`become_subreaper`)."""
    while _subreaper:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _remove_owned(folder: Path, uid: int, depth: int) -> None:
    """Remove every entry of `uid` in `folder`, and in the folders below it that anyone may write."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        path = Path(entry.path)
        if info.st_uid == uid:
            if stat.S_ISDIR(info.st_mode):
                if os.path.ismount(path):
                    subprocess.run(["umount", "--lazy", str(path)], capture_output=True)
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        elif depth > 1 and stat.S_ISDIR(info.st_mode) and info.st_mode & 0o002:
            _remove_owned(path, uid, depth - 1)


def _remove_sysv_ipc(uid: int) -> None:
    """Remove System V shared memory, message queues and semaphores that `uid` owns or created (they
    outlive processes; the bwrap tier's IPC namespace removes them with the sandbox)."""
    libc = None
    for kind, call in SYSV_IPC.items():
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
        except OSError:
            continue
        header = lines[0].split() if lines else []
        for line in lines[1:]:
            fields = dict(zip(header, line.split()))
            if str(uid) in (fields.get("uid"), fields.get("cuid")):
                libc = libc or ctypes.CDLL(None, use_errno=True)
                identifier = int(fields.get("shmid") or fields.get("msqid") or fields.get("semid") or -1)
                if kind == "sem":
                    libc.semctl(identifier, 0, IPC_RMID)
                else:
                    getattr(libc, call)(identifier, IPC_RMID, None)
