"""Intake: turn the paths given to `grade` into archived submissions, one per notebook found.

A path may be a notebook, a folder of student sub-folders (`<root>/<student>/<anything>.ipynb`), a
.zip of either, or an LMS bulk download whose files are named the Canvas way
(`<name>_<user id>_<submission id>_<original name>`, or `<name>_LATE_<user id>_...`).
Every file is archived before it is looked at; everything after that reads the archived copy.
Problems with one file (an unsafe zip entry, a password, a corrupt zip, no student) become a
rejected submission with a reason; they never stop the batch.
"""

from __future__ import annotations

import calendar
import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from .archive import Archive, entry_id

CANVAS_NAME = re.compile(r"^(?P<name>[^_]+)_(?:(?P<late>LATE)_)?(?P<user>\d+)_(?P<sub>\d+)_(?P<original>.+)$")
JUNK_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini", ".DS_Store", ".ipynb_checkpoints"}
MAX_ZIP_MEMBERS = 5000
MAX_ZIP_DEPTH = 2
DOWNLOAD_HINT = "In Colab use File > Download > Download .ipynb and submit that file."


class UsageError(Exception):
    """A mistake in how `grade` was called (not a problem with a submission)."""


@dataclass
class Found:
    """One file found inside an input, before it becomes a manifest entry."""

    parts: tuple[str, ...]  # path inside the input, as received
    source: str  # human-readable origin, e.g. "submissions.zip:alice/rmse_metric.ipynb"
    sha256: str | None = None
    size: int = 0
    mtime: float = 0.0
    problem: str | None = None
    container: bool = False  # a zip inside the input, still to be opened
    canvas: dict | None = None  # the LMS name of the zip this file came from, if any


def parse_canvas_name(filename: str) -> dict | None:
    """The parts of a Canvas bulk-download file name, or None if the name is not one."""
    match = CANVAS_NAME.match(filename)
    if not match:
        return None
    return {
        "name": match["name"],
        "user": match["user"],
        "submission": int(match["sub"]),
        "late": bool(match["late"]),
        "original": match["original"],
    }


def receive(
    paths: list[Path],
    archive: Archive,
    *,
    student: str | None = None,
    assignment: str | None = None,
    max_bytes: int = 20 * 2**20,
    exclude: Path | None = None,
) -> list[dict]:
    """Archive every input and return the manifest entries of the submissions found in them.

    `exclude` is a folder never read (the output folder, when it lies inside an input folder).
    """
    missing = [str(path) for path in paths if not path.exists() and not path.is_symlink()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}. Check the paths given to `grade`.")
    if student is not None and safe_student(student) != student:
        raise UsageError(f"--student {student!r} cannot be used as a folder name: choose an id without "
                         "slashes, control characters or leading dots.")
    submissions: list[dict] = []
    for path in paths:
        label = os.path.normpath(str(path))
        if path.is_dir() and not path.is_symlink():
            found = _walk_folder(path, label, archive, exclude)
        else:
            found = [_receive_file(path, (path.name,), label, archive)]
        found = _open_containers(found, archive, max_bytes, depth=0)
        for item in _drop_extras(_strip_wrapper(found)):
            submissions.append(_submission_entry(item, archive, student=student, assignment=assignment))
    return submissions


def safe_student(student: str) -> str:
    """The student id if it is safe as a folder name, otherwise a changed copy (callers compare)."""
    if not student or student in {".", ".."} or student.startswith(".") or "/" in student or "\\" in student:
        return "_" + student.replace("/", "_").replace("\\", "_")
    if any(ord(ch) < 32 for ch in student):
        return "".join(ch for ch in student if ord(ch) >= 32)
    return student


def _receive_file(path: Path, parts: tuple[str, ...], source: str, archive: Archive) -> Found:
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return Found(parts, source, problem="is a symbolic link, not a file. Submit the notebook file itself.")
    if not stat.S_ISREG(info.st_mode):
        return Found(parts, source, problem="is not a regular file. Submit the notebook file itself.")
    sha, size = archive.put_file(path)
    archive.record({"kind": "received", "id": entry_id("received", sha, source), "sha256": sha, "size": size,
                    "source": source, "mtime": info.st_mtime})
    return Found(parts, source, sha, size, info.st_mtime, container=_looks_like_zip(path.name, archive, sha))


def _walk_folder(root: Path, label: str, archive: Archive, exclude: Path | None) -> list[Found]:
    found = []
    skip = exclude.resolve() if exclude is not None else None
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not _is_junk(d) and (Path(folder) / d).resolve() != skip)
        rel = Path(folder).relative_to(root).parts
        links = [d for d in dirs if (Path(folder) / d).is_symlink()]
        dirs[:] = [d for d in dirs if d not in links]
        for name in sorted(files) + links:
            if _is_junk(name):
                continue
            parts = (*rel, name)
            found.append(_receive_file(Path(folder) / name, parts, os.path.join(label, *parts), archive))
    return found


def _is_junk(name: str) -> bool:
    return name in JUNK_NAMES or name.startswith(".")


def _looks_like_zip(name: str, archive: Archive, sha: str) -> bool:
    if name.lower().endswith(".zip"):
        return True
    if name.lower().endswith(".ipynb"):
        return False
    with open(archive.blob(sha), "rb") as handle:
        return handle.read(4) in (b"PK\x03\x04", b"PK\x05\x06")


def _open_containers(found: list[Found], archive: Archive, max_bytes: int, depth: int) -> list[Found]:
    result = []
    for item in found:
        if not item.container or item.problem:
            result.append(item)
            continue
        members = _expand_zip(item, archive, max_bytes)
        if depth < MAX_ZIP_DEPTH:
            members = _open_containers(members, archive, max_bytes, depth + 1)
        else:
            for member in members:
                if member.container:
                    member.container = False
                    member.problem = "is a zip inside zips nested too deeply. Submit the notebook file itself."
        result.extend(members)
    return result


def _zip_member_name(info: zipfile.ZipInfo) -> str:
    """The member name, repairing Korean (CP949) or other UTF-8 names stored without the UTF-8 flag."""
    name = info.filename
    if info.flag_bits & 0x800:
        return name
    try:
        raw = name.encode("cp437")
    except UnicodeEncodeError:
        return name
    for encoding in ("utf-8", "cp949"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return name


def _unsafe_member(name: str) -> str | None:
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "has a path with '..' that points outside the zip"
    if "\x00" in name:
        return "has a name with a NUL character"
    return None


def _expand_zip(item: Found, archive: Archive, max_bytes: int) -> list[Found]:
    zip_name = item.parts[-1]
    canvas = parse_canvas_name(zip_name) or item.canvas
    fix = "Zip the notebook again with a standard tool (no password) and resubmit, or submit the .ipynb file."
    try:
        handle = zipfile.ZipFile(archive.blob(item.sha256))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        item.problem = f"is not a readable zip file ({error}): it is corrupt or was cut off. {fix}"
        item.container = False
        return [item]
    members: list[Found] = []
    with handle:
        infos = [info for info in handle.infolist() if not info.is_dir()]
        if len(infos) > MAX_ZIP_MEMBERS:
            item.problem = f"holds {len(infos)} files, more than the {MAX_ZIP_MEMBERS} accepted. {fix}"
            item.container = False
            return [item]
        for info in infos:
            name = _zip_member_name(info)
            unsafe = _unsafe_member(name)
            # an unsafe name says nothing trustworthy about folders: keep it as one flat name
            parts = (name,) if unsafe else tuple(part for part in name.replace("\\", "/").split("/") if part)
            source = f"{item.source}:{name}"
            member = Found(item.parts[:-1] + parts if len(item.parts) > 1 else parts, source,
                           mtime=_zip_time(info), size=info.file_size, canvas=canvas)
            if any(_is_junk(part) for part in parts) and not unsafe:
                continue
            mode = info.external_attr >> 16
            if unsafe:
                member.problem = f"{unsafe} (zip entry of {zip_name}); it was not extracted. {fix}"
            elif stat.S_ISLNK(mode):
                member.problem = f"is a symbolic link inside {zip_name}; it was not extracted. {fix}"
            elif info.flag_bits & 0x1:
                member.problem = f"is encrypted (the zip {zip_name} has a password). {fix}"
            elif info.file_size > max_bytes:
                member.problem = _too_large(info.file_size, max_bytes)
            else:
                try:
                    with handle.open(info) as stream:
                        data = stream.read(max_bytes + 1)
                except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, OSError, EOFError) as error:
                    member.problem = f"could not be extracted from {zip_name} ({error}): the zip is corrupt. {fix}"
                else:
                    if len(data) > max_bytes:
                        member.problem = _too_large(len(data), max_bytes)
                    else:
                        member.sha256 = archive.put_bytes(data)
                        member.size = len(data)
                        member.container = _looks_like_zip(parts[-1], archive, member.sha256)
            members.append(member)
    return members


def _too_large(size: int, max_bytes: int) -> str:
    return (f"is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit. Clear the outputs "
            "(Edit > Clear all outputs in Colab), save, download the .ipynb again and resubmit.")


def _zip_time(info: zipfile.ZipInfo) -> float:
    """A zip entry's time stamp as seconds; zips store local time without a zone, read here as UTC."""
    try:
        return float(calendar.timegm((*info.date_time, 0, 0, 0)))
    except (ValueError, OverflowError):
        return 0.0


def _strip_wrapper(found: list[Found]) -> list[Found]:
    """Drop one enclosing folder (`submissions/<student>/...`) when every file sits inside it."""
    tops = {item.parts[0] for item in found if len(item.parts) > 1}
    if len(tops) == 1 and all(len(item.parts) > 1 for item in found) and any(len(item.parts) > 2 for item in found):
        for item in found:
            item.parts = item.parts[1:]
    return found


def _is_notebook_name(name: str) -> bool:
    return name.lower().endswith(".ipynb")


def _canvas(item: Found) -> dict | None:
    return parse_canvas_name(item.parts[-1]) or item.canvas


def _owner(item: Found) -> str | None:
    canvas = _canvas(item)
    if canvas:
        return canvas["user"]
    return item.parts[0] if len(item.parts) > 1 else None


def _drop_extras(found: list[Found]) -> list[Found]:
    """Keep non-notebook files only for students who sent no notebook at all (to tell them why)."""
    with_notebook = {_owner(item) for item in found if _is_notebook_name(item.parts[-1])}
    return [item for item in found
            if _is_notebook_name(item.parts[-1]) or item.problem
            or (_owner(item) is not None and _owner(item) not in with_notebook)]


def _submission_entry(item: Found, archive: Archive, *, student: str | None, assignment: str | None) -> dict:
    filename = item.parts[-1]
    canvas = _canvas(item)
    owner = student or _owner(item)
    problem = item.problem
    if problem is None and not _is_notebook_name(filename):
        suffix = Path(filename).suffix or "no extension"
        problem = f"is not a Jupyter notebook ({suffix}). {DOWNLOAD_HINT}"
    if problem is None and owner is None:
        problem = ("cannot be matched to a student: it is not inside a student's folder and its name is not an "
                   "LMS download name. Put it in a folder named after the student, or pass --student.")
    if owner is not None and safe_student(owner) != owner:
        problem = problem or f"belongs to a student id {owner!r} that cannot be used as a folder name."
        owner = safe_student(owner)
    entry = {
        "kind": "submission",
        "id": entry_id("submission", item.sha256 or item.source, owner, assignment, None if item.sha256 else problem),
        "sha256": item.sha256,
        "size": item.size,
        "name": filename,
        "source": item.source,
        "student": owner,
        "student_name": canvas["name"] if canvas and not student else None,
        "lms": "canvas" if canvas and not student else None,
        "assignment": assignment,
        "mtime": item.mtime,
        "lms_submission": canvas["submission"] if canvas else None,
        "late": bool(canvas and canvas["late"]),
        "problem": problem,
    }
    return archive.record(entry)


def submission_order(entry: dict) -> tuple:
    """Sort key: later submissions sort last (the documented "latest" rule)."""
    return (entry.get("lms_submission") or -1, entry.get("mtime") or 0.0, entry["name"], entry.get("sha256") or "")
