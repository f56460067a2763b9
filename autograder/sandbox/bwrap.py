"""The sandbox around a student's kernel: Linux namespaces through bubblewrap (`bwrap`), no Docker.

Inside, the kernel sees only what it needs to run: the system's `/usr`, a few files of `/etc`
(libraries, fonts), the Python installation and the virtual environment (read-only), the course's
`data/` at `/data` (read-only), and three private, size-limited tmpfs folders, `/home/student` (its
working folder and HOME), `/tmp` and `/dev/shm`. It has its own process, network, IPC and host-name
namespaces: no network at all (its loopback is its own, so nothing on the host's 127.0.0.1 is
reachable), no view of other processes, and when the kernel's sandbox ends every process started
in it ends too. The grader talks to the kernel through Unix sockets in one private folder
(`ipc_dir`), the only host folder the kernel can write.

When the grader runs as root, the kernel also runs as an unprivileged user of its own
(a uid/gid from UID_BASE on that no other grading process on the machine holds, see `claim_uid`;
no groups, no capabilities, no new privileges), switched to with `setpriv` inside the sandbox;
otherwise bwrap's user namespace maps the kernel to the grader's own user, still without any view
of the grader's files.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import names

UID_BASE, UID_COUNT = 61000, 1000  # uids/gids for kernels when the grader is root (one per worker process)
UID_LOCKS = Path(tempfile.gettempdir()) / names.UID_LOCKS  # <uid>.lock, held (flock) by the worker using it
HOME = "/home/student"
TMP = "/tmp"
SHM = "/dev/shm"  # inside the sandbox: HOME, TMP and SHM are private, size-limited tmpfs folders
DATA = "/data"
# /etc files a Python + TensorFlow + matplotlib kernel reads; nothing else of /etc is visible
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "fonts", "localtime", "passwd", "group", "nsswitch.conf",
       "mime.types")
# environment variables passed into the sandbox (everything else is dropped)
ENV_KEEP = ("LANG", "LC_ALL", "KERAS_BACKEND", "KDD_OFFLINE", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS",
            "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "MKL_NUM_THREADS",
            "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED", "PYDEVD_DISABLE_FILE_VALIDATION", "JPY_PARENT_PID")

ENTRY = Path(__file__).with_name("entry.py")  # runs first in the sandbox: the seccomp filter
TEMPLATE = Path(__file__).with_name("zygote.py")  # the kernel template, bound read-only into its sandbox
TEMPLATE_DIR = "/opt/kdd"  # where, with entry.py
# what the template needs to give each kernel namespaces, mounts and its uid (it drops them all in the kernel)
TEMPLATE_CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")
HOW_TO_INSTALL = ("install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: `dnf install "
                  "bubblewrap`) and allow user namespaces, or run the grader as root")


def is_root() -> bool:
    return os.geteuid() == 0


@functools.lru_cache(maxsize=1)
def unavailable() -> str | None:
    """None when the sandbox works on this machine, else why not and what to do (checked once)."""
    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux namespaces; this is {sys.platform}"
    if shutil.which("bwrap") is None:
        return f"bubblewrap (`bwrap`) is not installed: {HOW_TO_INSTALL}"
    probe = command([sys.executable, "-c", "import os; print(os.getuid())"], ipc_dir=None, data_dir=None,
                    uid=claim_uid(), tmp_mb=8)
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not start ({error}): {HOW_TO_INSTALL}"
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bwrap could not create the sandbox ({detail}): {HOW_TO_INSTALL}"
    return None


def describe() -> str:
    """One line for logs and the summary: which sandbox grading runs in."""
    user = f"as a uid of its own from {UID_BASE}" if is_root() else "as the grader's user in a user namespace"
    caveat = "" if is_root() else "; not root, so memory and threads are watched by the grader, not a cgroup"
    return f"bubblewrap sandbox ({user}; no network, private {HOME}, {TMP} and {SHM}, course data read-only{caveat})"


def _python_paths() -> list[Path]:
    """Folders that hold the Python running the kernel and its packages."""
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent.parent}
    return sorted(path for path in paths if path.exists() and not _under(path, Path("/usr")))


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _mount_point(path: Path, existing: tuple[str, ...] = ()) -> list[str]:
    """Create the parents of a bind target as traversable folders (bwrap makes them 0700 by default)."""
    args: list[str] = []
    for parent in reversed(path.parents):
        if str(parent) not in ("/", *existing):
            args += ["--perms", "0755", "--dir", str(parent)]
    return args


_claimed: dict[int, object] = {}  # uid -> the open lock file that reserves it for this process


def claim_uid() -> int:
    """The uid this process's kernels run as: as root, one no other process on the machine holds (so
    that concurrent `grade` runs never share a process limit or see each other's kernels), kept until
    this process ends; otherwise the grader's own uid."""
    if not is_root():
        return os.getuid()
    if _claimed:
        return next(iter(_claimed))
    UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
    for uid in range(UID_BASE, UID_BASE + UID_COUNT):
        handle = open(UID_LOCKS / f"{uid}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _claimed[uid] = handle
        return uid
    raise RuntimeError(f"all {UID_COUNT} sandbox uids from {UID_BASE} are in use by other grading processes")


def command(kernel: list[str], *, ipc_dir: Path | None, data_dir: Path | None, uid: int, tmp_mb: int,
            env: dict[str, str] | None = None) -> list[str]:
    """The command that runs `kernel` inside the sandbox, with `env` added to its environment."""
    args = [*_sandbox(ipc_dir=ipc_dir, data_dir=data_dir, tmp_mb=tmp_mb), *_setenv(kernel_environment(env))]
    if is_root():  # a user of its own, no groups, no capabilities, and no way to gain any
        args += ["--", "/usr/bin/setpriv" if Path("/usr/bin/setpriv").exists() else "setpriv",
                 f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
                 "--no-new-privs"]
    return [*args, "--", *filtered(kernel)]


def template_command(socket_path: Path, *, ipc_dir: Path, data_dir: Path | None, tmp_mb: int,
                     env: dict[str, str] | None = None) -> list[str]:
    """The command that starts the kernel template (zygote.py) in a sandbox like a kernel's, as root with
    only the capabilities it needs to give each kernel its own namespaces, folders and uid (root only)."""
    args = [*_sandbox(ipc_dir=ipc_dir, data_dir=data_dir, tmp_mb=tmp_mb), *_setenv(kernel_environment(env)),
            "--cap-drop", "ALL", *[arg for cap in TEMPLATE_CAPABILITIES for arg in ("--cap-add", cap)],
            "--perms", "0755", "--dir", TEMPLATE_DIR]
    for script in (TEMPLATE, ENTRY):
        args += ["--ro-bind", str(script), f"{TEMPLATE_DIR}/{script.name}"]
    return [*args, "--", sys.executable, f"{TEMPLATE_DIR}/{TEMPLATE.name}", str(socket_path)]


def kernel_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The kernel's whole environment: the variables of ENV_KEEP this process has, `env`, and the sandbox's own."""
    env = {**{name: os.environ[name] for name in ENV_KEEP if name in os.environ}, **(env or {})}
    env.update(HOME=HOME, TMPDIR=TMP, USER="student", MPLCONFIGDIR=f"{HOME}/.config/matplotlib",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]))
    return env


def _setenv(env: dict[str, str]) -> list[str]:
    return [arg for name, value in sorted(env.items()) for arg in ("--setenv", name, value)]


def _sandbox(*, ipc_dir: Path | None, data_dir: Path | None, tmp_mb: int) -> list[str]:
    """bwrap and its options up to the environment: namespaces, file system, folders."""
    size = str(tmp_mb * 2**20)
    args = ["bwrap", "--die-with-parent", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--hostname", "sandbox", "--clearenv",
            "--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    args += ["--perms", "0755", "--dir", "/etc"]  # bwrap would make it 0700: unreadable to the kernel's user
    for name in ETC:
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    # the private folders first: host folders bound later may live below /tmp (a checkout in /tmp/...)
    args += ["--perms", "1777", "--size", size, "--tmpfs", TMP,
             "--perms", "0755", "--dir", "/home",
             "--perms", "0777", "--size", size, "--tmpfs", HOME, "--chdir", HOME,
             # bwrap's /dev is an unlimited tmpfs, writable in /dev/shm when the kernel is the grader's user
             "--perms", "1777", "--size", size, "--tmpfs", SHM]
    made = (TMP, str(Path(HOME).parent), HOME, str(Path(SHM).parent), SHM)
    for path in _python_paths():
        args += [*_mount_point(path, made), "--ro-bind", str(path), str(path)]
    if data_dir is not None and data_dir.is_dir():
        args += ["--ro-bind", str(data_dir.resolve()), DATA]
    if ipc_dir is not None:
        args += [*_mount_point(ipc_dir, made), "--bind", str(ipc_dir), str(ipc_dir)]
    return args


def filtered(kernel: list[str]) -> list[str]:
    """`kernel`, started through entry.py (the seccomp filter), run from its source: the package
    is not visible in the sandbox."""
    return [sys.executable, "-c", ENTRY.read_text(encoding="utf-8"), *kernel]
