"""The archive: every input kept exactly as received, by content hash, with a manifest.

Layout under `<out>/archive/`:
  sha256/<first two hex digits>/<sha256>   the bytes, written once, never changed
  manifest.jsonl                           one JSON object a line, appended, never rewritten

Manifest entries have a `kind`: "received" (a file or zip given to `grade`, with its original name,
size, modification time and the time it was first archived) or "submission" (one notebook found in
those inputs, with the student and where it came from). Each entry has an `id` derived from what
it records: a received file's hash and path; a submission's upload event (owner, assignment, hash,
the upload's path and time as received, the path inside it). Archiving the same inputs again adds
nothing, while the same bytes uploaded again later are a new submission.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from .files import CHUNK, atomic_write, sha256_bytes, write_temporary
from .model import Submission


def now_utc() -> str:
    """The current time as an ISO 8601 UTC string with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def entry_id(*parts: object) -> str:
    """A short stable id for a manifest entry."""
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()[:20]


class Archive:
    """Content-addressed storage of inputs plus an append-only manifest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest = root / "manifest.jsonl"
        (root / "sha256").mkdir(parents=True, exist_ok=True)
        self._entries: dict[str, dict] = {}
        if self.manifest.exists():
            for line in self.manifest.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by an interrupted run; its data is archived again
                self._entries.setdefault(entry["id"], entry)

    def blob(self, sha256: str) -> Path:
        """Where the bytes with this hash are stored."""
        return self.root / "sha256" / sha256[:2] / sha256

    def put_bytes(self, data: bytes) -> str:
        """Store bytes (once) and return their SHA-256."""
        sha = sha256_bytes(data)
        target = self.blob(sha)
        if not target.exists():
            atomic_write(target, data, mode=0o444)
        return sha

    def put_file(self, path: Path) -> tuple[str, int]:
        """Store a file's bytes (once), streaming; return (sha256, size)."""
        digest = hashlib.sha256()
        size = 0

        def copy(handle) -> None:
            nonlocal size
            with open(path, "rb") as source:
                for chunk in iter(lambda: source.read(CHUNK), b""):
                    digest.update(chunk)
                    size += len(chunk)
                    handle.write(chunk)

        tmp = write_temporary(self.root, ".incoming.", copy, 0o444)
        try:
            target = self.blob(digest.hexdigest())
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return digest.hexdigest(), size

    def read(self, sha256: str) -> bytes:
        """The archived bytes with this hash."""
        return self.blob(sha256).read_bytes()

    def record(self, entry: dict) -> dict:
        """Append an entry unless one with the same id exists; return the stored entry."""
        existing = self._entries.get(entry["id"])
        if existing is not None:
            return existing
        stored = {**entry, "archived_at": now_utc()}
        line = json.dumps(stored, ensure_ascii=False, sort_keys=True) + "\n"
        with open(self.manifest, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        self._entries[entry["id"]] = stored
        return stored

    def entries(self, kind: str) -> list[dict]:
        """All entries of one kind, in the order they were first archived."""
        return [entry for entry in self._entries.values() if entry["kind"] == kind]

    def submissions(self) -> list[Submission]:
        """Every submission archived (by this run or an earlier one), in the order first archived."""
        return [Submission.from_entry(entry) for entry in self.entries("submission")]
