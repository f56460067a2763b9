"""A container's view of this machine, for tests of the uid-only sandbox tier.

Gradescope's and most Docker containers cannot create namespaces, so `bwrap` fails there; they also
have a /tmp of their own, and a Python that every user can run (/usr/bin/python3). `no_namespaces`
runs a command that way on this machine: first on PATH, a `bwrap` that fails with Docker's message; a
private, empty /tmp; and, where this machine's Python lives below a private folder (pyenv in /root),
that folder replaced by one that others may pass through to the Python, and hold nothing else; and
the top folders a container does not have (NOT_IN_A_CONTAINER: other checkouts of the course, with
readable solutions, live there) empty, but for this checkout and its venv. These
are mounts of the test harness, in a mount namespace of its own; the grader inside sees an ordinary
file system. Shared with the machine stay the folder of sandbox uid reservations (concurrent grading
runs must still never share a uid) and the folders given in `binds`.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import zipfile
from pathlib import Path

from autograder.sandbox import bwrap

# what bwrap says in a Docker container that lacks user namespaces
DOCKER_BWRAP_ERROR = ("bwrap: No permissions to creating new namespace, likely because the kernel does not allow "
                      "non-privileged user namespaces. On e.g. debian this can be enabled with 'sysctl "
                      "kernel.unprivileged_userns_clone=1'.")
TMP = "/tmp"  # the container's own /tmp: private and empty, so what a test puts below it exists only there
FAKE_BIN = f"{TMP}/kdd-no-namespaces"
AUTOGRADER = f"{TMP}/autograder"  # where the tests bind Gradescope's /autograder (the bundle's paths are relative)
# top folders of this machine that a Gradescope or Docker container does not have (other checkouts of the
# course, with world-readable solutions, live there): each is an empty folder in the container
NOT_IN_A_CONTAINER = ("/work", "/home", "/srv", "/mnt", "/media", "/opt", "/var/tmp")


def available() -> str | None:
    """None when this machine can simulate a container (root, `unshare`, `mount`), else why not."""
    if not bwrap.is_root():
        return "simulating a container needs root"
    missing = [tool for tool in ("unshare", "mount") if shutil.which(tool) is None]
    return f"{', '.join(missing)} not installed" if missing else None


def private_above_python() -> tuple[Path, Path] | None:
    """(a folder above this Python that others cannot pass through, its entry on the way to the Python)."""
    for path in sorted({Path(sys.executable).resolve(), Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}):
        for folder, entry in zip(reversed(path.parents), [*reversed(path.parents[:-1]), path]):
            if not folder.stat().st_mode & 0o001:
                return folder, entry
    return None


def _hidden_but_needed() -> list[Path]:
    """The repository and this Python's environment, where a folder the container hides holds them
    (outermost folders only): they are bound back at their own paths."""
    tops = [Path(top) for top in (TMP, *NOT_IN_A_CONTAINER)]
    found = {path for path in (Path(__file__).resolve().parents[2], Path(sys.prefix).resolve())
             if any(top in path.parents for top in tops)}
    return sorted(path for path in found if not any(other in path.parents for other in found))


def no_namespaces(command: list[str], binds: dict[Path, str] | None = None, cwd: str | None = None) -> list[str]:
    """`command`, run with a failing `bwrap` first on PATH and a private /tmp, where each host folder of
    `binds` is seen at the path it maps to (parents created private to root); in `cwd` when given (a
    working folder below /tmp must be given: the one inherited is hidden by the private /tmp)."""
    binds = {Path(host): inside for host, inside in (binds or {}).items()}
    kept = [path for path in _hidden_but_needed() if path not in binds]  # this checkout and its venv
    binds.update({path: str(path) for path in kept})
    bwrap.UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
    sources = [bwrap.UID_LOCKS, *binds]
    targets = [str(bwrap.UID_LOCKS), *binds.values()]
    hidden = private_above_python()
    if hidden is not None:  # e.g. /root -> a tmpfs others may pass through, holding only /root/.pyenv
        sources.append(hidden[1])
        targets.append(str(hidden[1]))
    lines = ["set -eu"]
    lines += [f"exec {3 + index}<{shlex.quote(str(source))}" for index, source in enumerate(sources)]
    if hidden is not None:
        lines.append(f"mount -t tmpfs -o mode=0711,size=64m kdd-container-home {shlex.quote(str(hidden[0]))}")
    lines.append(f"mount -t tmpfs -o mode=1777,size=4g kdd-container-tmp {TMP}")
    lines += [f"mount -t tmpfs -o mode=0755,size=1m kdd-container-empty {top}" for top in NOT_IN_A_CONTAINER
              if Path(top).is_dir() and not Path(top).is_symlink()]
    for index, target in enumerate(targets):  # binds through open folders: their host paths are hidden now
        mask = "022" if Path(target) in kept else "077"  # others must pass through to the venv's Python
        lines += [f"(umask {mask}; mkdir -p {shlex.quote(target)})",
                  f"mount --no-canonicalize --bind /proc/self/fd/{3 + index} {shlex.quote(target)}",
                  f"exec {3 + index}<&-"]
    lines += [f"mkdir {FAKE_BIN}",
              "printf '%s\\n' " + " ".join(shlex.quote(line) for line in (
                  "#!/bin/sh", f"echo {shlex.quote(DOCKER_BWRAP_ERROR)} >&2", "exit 1")) + f" > {FAKE_BIN}/bwrap",
              f"chmod 755 {FAKE_BIN}/bwrap",
              *([f"cd {shlex.quote(cwd)}"] if cwd else []),
              f'PATH={FAKE_BIN}:$PATH exec "$@"']
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines), "sh", *command]


def unpack_bundle(bundle: Path, root: Path) -> None:
    """Unpack a Gradescope bundle as Gradescope does: into root/source, world-readable, with the modes
    it carries."""
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
        for info in archive.infolist():
            (root / "source" / info.filename).chmod((info.external_attr >> 16) & 0o777 or 0o644)
    for folder in [root, *(path for path in root.rglob("*") if path.is_dir())]:
        folder.chmod(0o755)
