"""Intake: turn the paths given to `grade` into archived submissions, one per notebook found.

A path may be a notebook, a folder of student sub-folders (`<root>/<student>/<anything>.ipynb`), a
.zip of either, or an LMS bulk download whose files are named the Canvas way
(`<name>_<user id>_<submission id>_<original name>`, or `<name>_LATE_<user id>_...`).
Every file is archived before it is looked at; everything after that reads the archived copy.
Problems with one file (an unsafe zip entry, a password, a corrupt zip, no student) become a
rejected submission with a reason; they never stop the batch.

Who owns a file is decided by where the instructor's download put it, never by what is inside it: a
student folder at the top of what was given, or a Canvas-named file or zip at that level, is an
*upload*, and every file in an upload (a zip's members, zips in zips) is its uploader's, whatever its
own name says. Each upload is an event: where it was found, when it arrived (its Canvas submission
id, else its file time) and its bytes; the same bytes arriving again later are a new, later
submission, and the same path, time and bytes seen again are the same one (so reruns add nothing).
"""

from __future__ import annotations

import calendar
import os
import re
import stat
import struct
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from . import identity
from .archive import Archive, entry_id
from .model import FUTURE_MARGIN, UsageError

CANVAS_NAME = re.compile(r"^(?P<name>[^_]+)_(?:(?P<late>LATE)_)?(?P<user>[0-9]+)_(?P<sub>[0-9]+)_(?P<original>.+)$")
JUNK_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini", ".DS_Store", ".ipynb_checkpoints"}
HIDDEN = ("is a hidden file (its name, or its folder's, starts with a dot), so it was not graded. Rename it "
          "without the leading dot and resubmit.")
# Zip limits, per input (a zip given to `grade`, or a zip in a folder given), zips inside it included: a
# Canvas download holds one file per upload, a student's upload a handful. Notebooks compress 2-10 times,
# so unpacking more than MAX_ZIP_RATIO times the input's size (or a few notebooks' worth, whichever is
# more) is a zip bomb, and so are entries whose data overlap (a bomb zipfile does not detect).
MAX_ZIP_MEMBERS = 1000
MAX_ZIP_DEPTH = 2
MAX_ZIP_RATIO = 20
ZIP_FLOOR_FILES = 3  # ... times the file size limit
MAX_LISTED_EXTRAS = 20  # files of a zip that are neither notebooks nor zips, kept one by one; the rest are counted
DOWNLOAD_HINT = "In Colab use File > Download > Download .ipynb and submit that file."


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
    canvas: dict | None = None  # the LMS name of the upload this file came from, if any
    owner: str | None = None  # who uploaded it: decided where its upload was found, never by names inside it
    upload: tuple[str, ...] | None = None  # its upload's path where it was found; None: not claimed yet
    upload_source: str = ""  # its upload's `source`
    upload_time: float = 0.0  # its upload's time as received (part of the event's identity)
    arrived: float | None = None  # when its upload arrived, if that time is believable
    collection: str = ""  # the folder or zip of uploads (given by the instructor) it was found in
    skip: str | None = None  # why it needs no row: "system" (left by a tool), "hidden" (dot-folder of no student)


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
    notes: list[str] | None = None,
) -> None:
    """Archive every input and record each submission found in them (`Archive.submissions` lists them all,
    with those of earlier runs).

    `exclude` is a folder never read (the output folder, when it lies inside an input folder); `notes`
    gets a line for the summary about each kind of file that needs no row (and why).
    """
    missing = [str(path) for path in paths if not path.exists() and not path.is_symlink()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}. Check the paths given to `grade`.")
    if student is not None:
        student = identity.normal(student)
        if reason := identity.problem(student):
            raise UsageError(f"--student {identity.shown(student)!r} cannot be a student id: it {reason}. "
                             "Give the student's id without it.")
    notes = notes if notes is not None else []
    skipped: list[Found] = []
    for path in paths:
        label = os.path.normpath(str(path))
        if path.is_dir() and not path.is_symlink():
            found = _walk_folder(path, label, archive, exclude)
        else:
            found = [_receive_file(path, (path.name,), label, archive)]
        for item in found:
            _claim(item, label, student)
        found = _open_containers(found, archive, max_bytes, depth=0)
        if student is None:
            notes.extend(_wrapper_notes(found))
        kept, dropped = _drop_extras(found)
        skipped += dropped
        for item in kept:
            _record_submission(item, archive, assignment=assignment)
    notes.extend(_skip_notes(skipped))


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
    """Every file under `root` (hidden ones and tools' leftovers too: all are archived), in name order."""
    found = []
    skip = exclude.resolve() if exclude is not None else None
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if (Path(folder) / d).resolve() != skip)
        rel = Path(folder).relative_to(root).parts
        links = [d for d in dirs if (Path(folder) / d).is_symlink()]
        dirs[:] = [d for d in dirs if d not in links]
        for name in sorted(files) + links:
            parts = (*rel, name)
            found.append(_receive_file(Path(folder) / name, parts, os.path.join(label, *parts), archive))
    return found


def _is_junk(name: str) -> bool:
    """A file or folder that operating systems and tools leave behind (never a student's work)."""
    return name in JUNK_NAMES or name.startswith("._")


def _looks_like_zip(name: str, archive: Archive, sha: str) -> bool:
    if name.lower().endswith(".zip"):
        return True
    if name.lower().endswith(".ipynb"):
        return False
    with open(archive.blob(sha), "rb") as handle:
        return handle.read(4) in (b"PK\x03\x04", b"PK\x05\x06")


def _open_containers(found: list[Found], archive: Archive, max_bytes: int, depth: int,
                     budget: ZipBudget | None = None) -> list[Found]:
    result = []
    for item in found:
        if not item.container or item.problem:
            result.append(item)
            continue
        shared = budget if budget is not None else ZipBudget.of(item, max_bytes)  # one per input
        members = _claim_members(item, _expand_zip(item, archive, max_bytes, shared))
        if depth < MAX_ZIP_DEPTH:
            members = _open_containers(members, archive, max_bytes, depth + 1, shared)
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


@dataclass
class ZipBudget:
    """What the zips of one input may still unpack: bytes and files, zips inside zips included."""

    bytes_left: int
    members_left: int = MAX_ZIP_MEMBERS

    @classmethod
    def of(cls, item: Found, max_bytes: int) -> ZipBudget:
        return cls(max(ZIP_FLOOR_FILES * max_bytes, MAX_ZIP_RATIO * item.size))


def _expand_zip(item: Found, archive: Archive, max_bytes: int, budget: ZipBudget | None = None) -> list[Found]:
    """The members of a zip (archived, when they are to be read), or the zip itself with the reason it was not
    opened; `budget` is shared by the zips of one input."""
    zip_name = item.parts[-1]
    canvas = parse_canvas_name(zip_name) or item.canvas
    budget = budget if budget is not None else ZipBudget.of(item, max_bytes)
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
        problem = _zip_problem(handle, infos, budget, max_bytes)
        if problem:
            item.problem = f"{problem}. {fix}"
            item.container = False
            return [item]
        budget.members_left -= len(infos)
        extras = 0
        for info in infos:
            name = _zip_member_name(info)
            unsafe = _unsafe_member(name)
            # an unsafe name says nothing trustworthy about folders: keep it as one flat name
            parts = (name,) if unsafe else tuple(part for part in name.replace("\\", "/").split("/") if part)
            source = f"{item.source}:{name}"
            member = Found(item.parts[:-1] + parts if len(item.parts) > 1 else parts, source,
                           mtime=_zip_time(info), size=info.file_size, canvas=canvas)
            if any(_is_junk(part) for part in parts) and not unsafe:
                members.append(member)  # left by the zipping tool: reported as such, not extracted
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
            elif not parts[-1].lower().endswith((".ipynb", ".zip")) and (extras := extras + 1) > MAX_LISTED_EXTRAS:
                continue  # counted, not read: one row below says how many
            elif info.file_size > budget.bytes_left:
                member.problem = ("was not extracted: with the files before it, the zips of this upload unpack to "
                                  f"more bytes than accepted (a zip bomb, or files that are not needed). {fix}")
            else:
                _extract(handle, info, member, archive, max_bytes, zip_name, fix)
                budget.bytes_left -= member.size if member.sha256 else 0
            members.append(member)
        if extras > MAX_LISTED_EXTRAS:
            members.append(Found(item.parts, f"{item.source}:({extras - MAX_LISTED_EXTRAS} more files)", canvas=canvas,
                                 problem=f"holds {extras - MAX_LISTED_EXTRAS} more files that are neither notebooks "
                                         f"nor zips (after the first {MAX_LISTED_EXTRAS}); they were not looked at. "
                                         "Submit only your .ipynb files."))
    return members


def _extract(handle: zipfile.ZipFile, info: zipfile.ZipInfo, member: Found, archive: Archive, max_bytes: int,
             zip_name: str, fix: str) -> None:
    """Archive one member's bytes (its `sha256`, `size`, `container`), or set its `problem`."""
    try:
        with handle.open(info) as stream:
            data = stream.read(max_bytes + 1)  # never more than the entry's declared size (zipfile stops there)
    except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, OSError, EOFError) as error:
        member.problem = f"could not be extracted from {zip_name} ({error}): the zip is corrupt. {fix}"
        return
    if len(data) > max_bytes:
        member.problem = _too_large(len(data), max_bytes)
        return
    member.sha256 = archive.put_bytes(data)
    member.size = len(data)
    member.container = _looks_like_zip(member.parts[-1], archive, member.sha256)


def _zip_problem(handle: zipfile.ZipFile, infos: list[zipfile.ZipInfo], budget: ZipBudget,
                 max_bytes: int) -> str | None:
    """Why a zip is not opened at all: too many files, too many bytes, or entries that overlap (a zip bomb)."""
    if len(infos) > budget.members_left:
        return (f"holds {len(infos)} files, more than the {MAX_ZIP_MEMBERS} accepted in one upload (zips inside "
                "it included)")
    end = 0
    for info in sorted(handle.infolist(), key=lambda entry: entry.header_offset):
        if info.header_offset < end:
            return "has entries whose data overlap, which only a zip bomb does"
        end = info.header_offset + 30 + info.compress_size  # at least: the local header, then the data
    if end > handle.start_dir:
        return "has entries whose data overlap its table of contents, which only a zip bomb does"
    declared = sum(info.file_size for info in infos if info.file_size <= max_bytes)
    if declared > budget.bytes_left:
        return (f"unpacks to {_megabytes(declared)}, more than the {_megabytes(budget.bytes_left)} accepted for it "
                "(a zip bomb, or files that are not needed)")
    return None


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.0f} MB" if size >= 2**20 else f"{size / 2**10:.0f} KB"


def _too_large(size: int, max_bytes: int) -> str:
    return (f"is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit. Clear the outputs "
            "(Edit > Clear all outputs in Colab), save, download the .ipynb again and resubmit.")


UNIX_TIME, NTFS_TIMES = 0x5455, 0x000A  # zip extra fields that hold a file's time in UTC
FILETIME_EPOCH = 11_644_473_600  # seconds from 1601-01-01 (NTFS times) to 1970-01-01


def _zip_time(info: zipfile.ZipInfo) -> float:
    """A zip entry's time stamp as seconds since the epoch. Its own fields store local time without a zone,
    so the UTC time that most tools add in an extra field wins (Info-ZIP and macOS: "UT"; 7-Zip and
    Windows tools: NTFS); without one the local time is read as UTC."""
    extra = info.extra
    while len(extra) >= 4:
        kind, size = struct.unpack_from("<HH", extra)
        field = extra[4:4 + size]
        if kind == UNIX_TIME and len(field) >= 5 and field[0] & 1:
            return float(struct.unpack_from("<i", field, 1)[0])
        if kind == NTFS_TIMES and len(field) >= 32 and struct.unpack_from("<HH", field, 4) == (1, 24):
            return struct.unpack_from("<Q", field, 8)[0] / 10_000_000 - FILETIME_EPOCH
        extra = extra[4 + size:]
    try:
        return float(calendar.timegm((*info.date_time, 0, 0, 0)))
    except (ValueError, OverflowError):
        return 0.0


def _claim(item: Found, collection: str, student: str | None) -> None:
    """Decide who uploaded a file found where the instructor's download put it (not inside an upload).

    A file in a student folder (`<student>/...`) is that student's; a file or zip named the Canvas way is
    that Canvas user's; with --student everything is that student's. Any other zip is a zip of uploads,
    whose members are claimed the same way when it is opened.
    """
    item.collection = collection
    item.arrived = _believed(item.mtime)
    canvas = parse_canvas_name(item.parts[0]) if len(item.parts) == 1 else None
    if student is None and not item.problem and (item.parts[0].startswith(".") or _is_junk(item.parts[0])):
        item.skip = "system" if any(_is_junk(part) for part in item.parts) else "hidden"
        item.container = False
        return
    if student is None and len(item.parts) == 1 and canvas is None and item.container:
        return
    owner = student or (item.parts[0] if len(item.parts) > 1 else canvas["user"] if canvas else None)
    _upload(item, owner, canvas)
    _mark(item)


def _upload(item: Found, owner: str | None, canvas: dict | None) -> None:
    item.owner, item.canvas = owner, canvas
    item.upload, item.upload_source, item.upload_time = item.parts, item.source, item.mtime


def _mark(item: Found) -> None:
    """Set aside tools' leftovers; reject hidden files (inside an upload, so its student can be told)."""
    if any(_is_junk(part) for part in item.parts) and not item.problem:
        item.skip = "system"
        item.container = False
    elif any(part.startswith(".") for part in item.parts) and not item.problem:
        item.problem = HIDDEN
        item.container = False


def _claim_members(container: Found, members: list[Found]) -> list[Found]:
    """Give the files of an opened zip their owner: the zip's uploader, or (a zip of uploads) each its own."""
    if len(members) == 1 and members[0] is container:  # the zip could not be opened
        if container.upload is None:
            _upload(container, None, None)
        return members
    if container.upload is not None:  # an upload: everything inside is the uploader's, whatever its name
        for member in members:
            member.owner, member.canvas, member.collection = container.owner, container.canvas, container.collection
            member.upload, member.upload_source = container.upload, container.upload_source
            member.upload_time, member.arrived = container.upload_time, container.arrived
            _mark(member)
    else:  # a zip of student folders or LMS files, made by the instructor
        _strip_wrapper(container, members)
        for member in members:
            _claim(member, container.source, None)
            member.arrived = _earliest(member.arrived, container.arrived)
    if all(member.skip for member in members):
        if container.upload is None:
            _upload(container, None, None)
        container.container = False
        container.problem = ("is a zip that holds no files (or only files that tools leave behind). Zip the "
                             "notebook again and resubmit, or submit the .ipynb file.")
        members = [*members, container]
    return members


def _believed(moment: float) -> float | None:
    """A time as received, unless it is unknown (0) or in the future."""
    return moment if moment and moment <= time.time() + FUTURE_MARGIN else None


def _earliest(moment: float | None, limit: float | None) -> float | None:
    """A file's time, never later than when the zip holding it arrived."""
    known = [value for value in (moment, limit) if value is not None]
    return min(known) if known else None


def _strip_wrapper(container: Found, members: list[Found]) -> None:
    """Skip the one folder a zip of student folders was made from: `submissions.zip` holding `submissions/...`.

    Only the folder named like the zip, only in a zip the instructor gave (never inside an upload).
    """
    stem = identity.normal(Path(container.parts[-1]).stem)
    real = [member for member in members if not any(_is_junk(part) for part in member.parts)]
    if real and all(len(member.parts) > 1 and identity.normal(member.parts[0]) == stem for member in real):
        for member in members:
            if len(member.parts) > 1 and identity.normal(member.parts[0]) == stem:
                member.parts = member.parts[1:]


def _wrapper_notes(found: list[Found]) -> list[str]:
    """Notes on layouts that may not mean what they say: a single folder with sub-folders (a wrapper?), and
    a student folder holding the Canvas files of several users (a Canvas download one level too deep?)."""
    uploads: dict[str, set[tuple[str, ...]]] = {}
    for item in found:
        if item.upload is not None and not item.skip:
            uploads.setdefault(item.collection, set()).add(item.upload)
    notes = []
    for collection, paths in sorted(uploads.items()):
        tops = {path[0] for path in paths}
        if len(tops) == 1 and all(len(path) > 1 for path in paths) and any(len(path) > 2 for path in paths):
            top = next(iter(tops))
            notes.append(f"{collection} holds one folder, '{top}', with sub-folders: '{top}' was graded as one "
                         f"student. If '{top}' only holds the student folders, give the folder '{top}' itself "
                         "(unzipped, if it is in a zip).")
        for top in sorted(tops):
            users = {canvas["user"] for path in paths if len(path) == 2 and path[0] == top
                     and (canvas := parse_canvas_name(path[1]))}
            if len(users) > 1:
                notes.append(f"{collection}: the folder '{top}' holds the Canvas files of {len(users)} different "
                             f"users, all graded as the one student '{top}'. If '{top}' is a Canvas download, give "
                             f"the folder '{top}' itself.")
    return notes


def _is_notebook_name(name: str) -> bool:
    return name.lower().endswith(".ipynb")


def _drop_extras(found: list[Found]) -> tuple[list[Found], list[Found]]:
    """Split off files that need no row: tools' leftovers, hidden folders of no student, and other files
    (not notebooks) of students who sent a notebook or of no student."""
    with_notebook = {item.owner for item in found if _is_notebook_name(item.parts[-1]) and not item.skip}
    kept, dropped = [], []
    for item in found:
        needed = not item.skip and (_is_notebook_name(item.parts[-1]) or item.problem is not None
                                    or (item.owner is not None and item.owner not in with_notebook))
        (kept if needed else dropped).append(item)
    return kept, dropped


def _skip_notes(skipped: list[Found]) -> list[str]:
    """One summary line per kind of file that got no row, with a count and an example."""
    kinds = {"system": "files that operating systems and tools leave behind (.DS_Store, __MACOSX/, "
                       ".ipynb_checkpoints/, ...)",
             "hidden": "hidden files or folders (names starting with a dot) that belong to no student",
             None: "files that are not notebooks, beside a student's notebook or of no student"}
    notes = []
    for kind, what in kinds.items():
        items = [item for item in skipped if item.skip == kind]
        if items:
            notes.append(f"{len(items)} {what} were not graded; they are archived as received "
                         f"(for example {items[0].source}).")
    return notes


def _record_submission(item: Found, archive: Archive, *, assignment: str | None) -> None:
    filename = item.parts[-1]
    owner = identity.normal(item.owner) if item.owner is not None else None
    problem = item.problem
    if owner is not None and (reason := identity.problem(owner)):
        problem = (f"belongs to the student id {identity.shown(owner)!r}, which {reason}, so it cannot be matched "
                   "to a student. Rename the student's folder to the id as the LMS spells it and grade again.")
        owner = None
    if problem is None and not _is_notebook_name(filename):
        suffix = Path(filename).suffix or "no extension"
        problem = f"is not a Jupyter notebook ({suffix}). {DOWNLOAD_HINT}"
    if problem is None and owner is None:
        problem = ("cannot be matched to a student: it is not inside a student's folder and its name is not an "
                   "LMS download name. Put it in a folder named after the student, or pass --student.")
    canvas = item.canvas
    lms = canvas is not None and owner == canvas["user"]
    upload = item.upload or item.parts
    inside = item.source[len(item.upload_source):] if item.upload_source else item.source
    entry = {
        "kind": "submission",
        # one upload event: the same bytes at the same place and time are the same submission, on any rerun
        "id": entry_id("submission", item.sha256, owner, assignment, None if item.sha256 else problem,
                       "/".join(upload), item.upload_time, inside),
        "sha256": item.sha256,
        "size": item.size,
        "name": filename,
        "source": item.source,
        "student": owner,
        "student_name": identity.normal(canvas["name"]) if lms else None,
        "lms": "canvas" if lms else None,
        "assignment": assignment,
        "mtime": item.mtime,
        "arrived": item.arrived,
        "upload": item.upload_source or item.source,
        "lms_submission": canvas["submission"] if canvas else None,
        "late": bool(canvas and canvas["late"]),
        "problem": problem,
    }
    archive.record(entry)
