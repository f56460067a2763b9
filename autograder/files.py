"""Small file helpers: content hashes, atomic writes, safe path components."""

from __future__ import annotations

import hashlib
import os
import tempfile
import unicodedata
from pathlib import Path
from typing import BinaryIO, Callable

CHUNK = 1 << 20
MAX_CHARS = 120  # a path component made from student data: at most this many characters
MAX_NAME_BYTES = 200  # ... and this many bytes of UTF-8 (file systems allow 255)
_UMASK = os.umask(0)
os.umask(_UMASK)


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


def write_temporary(folder: Path, prefix: str, write: Callable[[BinaryIO], None], mode: int) -> Path:
    """A new file in `folder`, complete on disk (written by `write`, flushed, synced) and with `mode`: the
    caller moves it into place (os.replace, os.link) or removes it. Nothing is left if `write` fails."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)  # mode 0600
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def atomic_write(path: Path, data: bytes | str, mode: int | None = None) -> None:
    """Write a file so that readers see either the old or the whole new content, never a part."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = write_temporary(path.parent, f".{path.name}.", lambda handle: handle.write(payload),
                          0o666 & ~_UMASK if mode is None else mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_once(path: Path, data: str, mode: int = 0o600) -> bool:
    """Create `path` whole with `mode` unless it exists (never replaced, never seen part-written or with a
    wider mode, even when several processes race to create it); True if this call created it."""
    tmp = write_temporary(path.parent, f".{path.name}.", lambda handle: handle.write(data.encode("utf-8")), mode)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        Path(tmp).unlink(missing_ok=True)
    return True


def safe_component(name: str) -> str:
    """`name` as one path component: same text where possible, never a separator, dot-name or control.

    A long name is cut to MAX_CHARS characters and MAX_NAME_BYTES bytes of UTF-8 (a file system allows 255
    bytes; the rest is room for a suffix such as `.html` and atomic_write's temporary name), then ends in
    a hash of the whole name, so that two long names that begin alike stay two components.
    """
    text = unicodedata.normalize("NFC", name)
    text = "".join("_" if ch in "/\\" or unicodedata.category(ch).startswith("C") else ch for ch in text)
    text = text.strip().strip(".") or "_"
    if len(text) <= MAX_CHARS and len(text.encode("utf-8")) <= MAX_NAME_BYTES:
        return text
    tag = "-" + sha256_bytes(name.encode("utf-8", "surrogatepass"))[:12]
    room = MAX_NAME_BYTES - len(tag)
    cut = text[: MAX_CHARS - len(tag)].encode("utf-8")[:room].decode("utf-8", "ignore")
    return cut + tag
