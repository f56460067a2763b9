"""The kernel template (a "zygote"): TensorFlow imported once per worker, each kernel forked from it.

Importing TensorFlow, Keras and matplotlib costs about 5 s of CPU, about half of what grading a whole
exercise costs. This process pays it once: it runs in a bubblewrap sandbox of its own (bwrap.py,
`template_command`), imports them, and then, for each kernel the grader asks for, forks a child that
becomes that kernel. It never runs student code itself, and nothing a kernel does reaches it or the
next kernel:

  C  the forked child sends its pid to the grader's launcher (launcher.py, which moved it into
     the job's cgroups: all its memory, processes and CPU), waits for the go-ahead, then makes new
     mount, PID and IPC namespaces and forks
  R  PID 1 of the new namespace: fresh, size-limited tmpfs folders on /home/student, /tmp and
     /dev/shm, a /proc of its own; it starts K, reaps, and when K ends (or the launcher is gone) it
     exits, which ends every process of the namespace
  K  the kernel: the launcher's stdin, stdout and stderr, its limits (rlimits), the kernel's own uid
     with no groups, capabilities or way to gain any, the same seccomp filter as every sandboxed
     kernel (entry.py), numpy's global random state drawn afresh, then ipykernel.

So a kernel has its own copy of every module (copy on write), its own files, System V and POSIX IPC
objects and processes, all gone when its namespace ends; the template's memory is not dumpable (no
/proc/<pid>/mem) and belongs to root, so a kernel can neither read nor signal it.

In the uid-only tier (no namespaces: tiers.py) the template runs as root on the machine itself
(`tiers.template_command`), and a request with `"namespaces": false` and a `home` skips what needs
namespaces: C makes none, R mounts nothing and adopts K's orphans as a subreaper, and K starts in
`home`, the job's private folder, exactly where a kernel of that tier started afresh would; the
worker kills every process of the uid after each job, as for those.

Protocol, on a Unix socket only root can open: the launcher sends a 4-byte length, a JSON request
(`argv` of `python -m ipykernel_launcher ...`, `env`, `uid`, `rlimits`, `tmp_mb`; in the uid-only
tier `namespaces` false and `home`) and its stdin,
stdout and stderr as file descriptors; C answers one byte `f`, R one byte `r` (the launcher reads
their pids from the credentials the kernel attaches, SO_PASSCRED); the launcher sends `g` in between.

This file imports nothing of the autograder package (it runs where the package is not visible) but
entry.py, bound next to it.
"""

import ctypes
import json
import os
import re
import resource
import select
import signal
import socket
import struct
import sys
import traceback

# entry.py too: in the uid-only tier its folder (the grader's package) is private to root
PRELOAD = ("numpy", "tensorflow", "keras", "matplotlib.pyplot", "ipykernel.kernelapp", "pyseccomp", "entry")
# what ipykernel sets in every kernel before the notebook can import matplotlib, which reads it on import
MPLBACKEND = "module://matplotlib_inline.backend_inline"
HOME, TMP, SHM = "/home/student", "/tmp", "/dev/shm"  # as in bwrap.py
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID = 0x00020000, 0x08000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 8192, 16384, 1 << 18)
STAGE = "/dev/.kdd-mount"  # where R parks the mounts below a folder it replaces (bwrap's /dev: a tmpfs)
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 36, 38
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus")  # as bwrap leaves them: read-only
LENGTH = struct.Struct("!I")
MAX_REQUEST = 1 << 20
libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _mount(source: str, target: str, kind: str | None, flags: int, options: str | None = None) -> None:
    _check(libc.mount(source.encode(), target.encode(), kind.encode() if kind else None, flags,
                      options.encode() if options else None), f"mount {target}")


def receive(conn: socket.socket) -> tuple[dict, list[int]]:
    """The launcher's request and its three standard file descriptors."""
    data, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 3)
    if len(data) < LENGTH.size or len(fds) != 3:
        raise ValueError("a request needs a length, JSON and three file descriptors")
    size = LENGTH.unpack_from(data)[0]
    if size > MAX_REQUEST:
        raise ValueError("request too large")
    data = data[LENGTH.size:]
    while len(data) < size:
        more = conn.recv(size - len(data))
        if not more:
            raise ValueError("request cut short")
        data += more
    return json.loads(data), fds


def fresh_folders(tmp_mb: int) -> None:
    """Private mounts, then new tmpfs folders and a /proc of this PID namespace (R, PID 1)."""
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    for path, mode in ((TMP, "1777"), (HOME, "0777"), (SHM, "1777")):
        _fresh_tmpfs(path, f"size={tmp_mb * 2**20},mode={mode}")
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in PROC_READ_ONLY:
        path = f"/proc/{name}"
        if os.path.exists(path):
            _mount(path, path, None, MS_BIND | MS_REC)
            _mount(path, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def mount_point(line: str) -> str:
    """The mount point of a line of /proc/<pid>/mountinfo (space, tab, newline and backslash come as
    octal escapes; every other character, Korean ones too, as it is)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), line.split(" ")[4])


def mounts_below(path: str, lines: list[str]) -> list[str]:
    """The outermost mount points below `path` among mountinfo `lines` (the sandbox binds the Python
    installation, a virtual environment or the socket folder there when they live below /tmp on the host)."""
    below = sorted({point for point in map(mount_point, lines) if point.startswith(path + "/")})
    return [point for point in below if not any(point.startswith(other + "/") for other in below)]


def _fresh_tmpfs(path: str, options: str) -> None:
    """An empty tmpfs on `path`, with the mounts below it (and their content) kept where they were."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as handle:
        kept = mounts_below(path, handle.read().splitlines())
    staged = []
    for number, point in enumerate(kept):
        stage = f"{STAGE}-{number}"
        os.mkdir(stage, 0o700)
        _mount(point, stage, None, MS_MOVE)
        staged.append(stage)
    _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, options)
    for stage, point in zip(staged, kept):
        os.makedirs(point, mode=0o755, exist_ok=True)
        _mount(stage, point, None, MS_MOVE)
        os.rmdir(stage)


def drop_privileges(uid: int) -> None:
    """What `setpriv --reuid --regid --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs`
    does for every other sandboxed kernel."""
    for capability in range(64):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            break  # past the last capability this kernel knows
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # clears the permitted, effective and ambient capabilities
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable (twice 32 bits): all empty
    _check(libc.capset(header, data), "capset")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if os.getuid() != uid or os.geteuid() != uid or os.getgid() != uid or os.getgroups():
        raise RuntimeError("could not become the kernel's user")


def become_kernel(request: dict, fds: list[int], reaper: int) -> None:
    """K: the kernel, as its own user, under its limits and the filter; never returns."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(number, signal.default_int_handler if number == signal.SIGINT else signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    if os.getppid() != reaper:  # R is gone already
        os._exit(1)
    for name, (soft, hard) in request["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request.get("home", HOME))
    drop_privileges(int(request["uid"]))
    import numpy

    numpy.random.seed()  # the template's state would be every kernel's: draw it afresh, as a new process does
    import entry

    entry.build().load()
    argv = request["argv"]
    module = argv.index("-m") + 1  # python -m ipykernel_launcher -f CONNECTION_FILE
    sys.argv = [argv[module], *argv[module + 1:]]
    sys.path[0] = os.getcwd()  # as `python -m` has it (here it was this file's folder)
    import runpy

    code = 0
    try:
        runpy.run_module(argv[module], run_name="__main__", alter_sys=True)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
    os._exit(code)


def reap(conn: socket.socket, kernel: int) -> None:
    """R: wait for K (and adopt every orphan); exit when K does or the launcher is gone."""
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an interrupt is for K (the launcher signals the group)
    while True:
        try:
            ready, _, _ = select.select([conn, wake_read], [], [], 5)
        except InterruptedError:
            ready = []
        if wake_read in ready:
            os.read(wake_read, 4096)
        if conn in ready and not conn.recv(1):
            os._exit(1)  # the launcher (and with it the grader's interest) is gone
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                os._exit(1)
            if pid == 0:
                break
            if pid == kernel:
                os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def child(conn: socket.socket) -> None:
    """C, then R and K (see the module's docstring)."""
    request, fds = receive(conn)
    conn.sendall(b"f")  # the launcher learns this process's pid from the credentials
    if conn.recv(1) != b"g":
        os._exit(1)
    namespaces = request.get("namespaces", True)
    if namespaces:
        _check(libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC), "unshare")
    if os.fork() != 0:
        os._exit(0)
    os.setsid()  # R leads the kernel's process group: the launcher interrupts it as a whole
    if namespaces:
        fresh_folders(int(request["tmp_mb"]))
    else:  # the uid-only tier: R adopts K's orphans, as PID 1 of a namespace would
        _check(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "subreaper")
    conn.sendall(b"r")
    reaper = 1 if namespaces else os.getpid()
    kernel = os.fork()
    if kernel == 0:
        conn.close()
        become_kernel(request, fds, reaper)
    for fd in fds:
        os.close(fd)
    reap(conn, kernel)


def serve(path: str) -> None:
    os.environ.setdefault("MPLBACKEND", MPLBACKEND)
    for name in PRELOAD:
        __import__(name)
    _check(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "dumpable")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o600)
    server.listen(8)
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        pid = os.fork()
        if pid == 0:
            server.close()
            try:
                child(conn)
            except BaseException:
                traceback.print_exc()
            os._exit(1)
        conn.close()
        os.waitpid(pid, 0)


if __name__ == "__main__":
    serve(sys.argv[1])
