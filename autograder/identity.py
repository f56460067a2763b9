"""Student ids as keys: one person, one key; two people never share a row or a feedback page.

An id (a student folder's name, a Canvas user id, `--student`) is read as Unicode NFC, so a name a
Mac wrote decomposed (NFD) and the same name typed elsewhere are one student. An id with characters
no one can see (zero-width, direction marks, fillers, controls), surrounding spaces, a slash or a
leading dot is not used at all: its files are rejected with the reason, for the instructor to rename
the folder. Ids that differ but look alike ("Zed" and "zed", "zed" and fullwidth "ｚｅｄ") stay two
students: the summary names them and their feedback folders get names that cannot collide.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable

from .files import safe_component

# letters that draw nothing, although Unicode files them as letters or symbols (Hangul fillers, blank Braille)
BLANK_LETTERS = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}


def normal(student: str) -> str:
    """The id in Unicode NFC, the form used as the key."""
    return unicodedata.normalize("NFC", student)


def shown(student: str) -> str:
    """The id with every invisible character written as <U+XXXX>, for messages."""
    return "".join(f"<U+{ord(ch):04X}>" if _invisible(ch) else ch for ch in student)


def problem(student: str) -> str | None:
    """Why an (NFC) id cannot be a student's key, or None when it can."""
    hidden = sorted({ch for ch in student if _invisible(ch)})
    if hidden:
        names = ", ".join(f"U+{ord(ch):04X} {unicodedata.name(ch, 'control character')}" for ch in hidden)
        return f"has a character that cannot be seen ({names})"
    if not student.strip():
        return "is empty"
    if student != student.strip():
        return "starts or ends with a space"
    if student.startswith(".") or "/" in student or "\\" in student:
        return "starts with a dot or holds a slash"
    return None


def _invisible(ch: str) -> bool:
    return ch in BLANK_LETTERS or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def lookalike(student: str) -> str:
    """What an id looks like: the same for ids a reader (or a case-insensitive disk) cannot tell apart."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", student).casefold())
    return safe_component(folded).casefold()


def lookalikes(students: Iterable[str]) -> list[list[str]]:
    """Groups of two or more different ids that look alike, each sorted."""
    groups: dict[str, set[str]] = {}
    for student in students:
        groups.setdefault(lookalike(student), set()).add(student)
    return sorted(sorted(group) for group in groups.values() if len(group) > 1)


def folder_names(students: Iterable[str]) -> dict[str, str]:
    """A feedback folder name per id; look-alike ids get a suffix from their exact text, so none collide."""
    unique = sorted(set(students))
    names = {student: safe_component(student) for student in unique}
    for digits in (12, 64):  # the second round only if a suffixed name met another id's name
        clashing = {student for group in lookalikes(unique) for student in group} if digits == 12 else set()
        taken: dict[str, list[str]] = {}
        for student, name in names.items():
            taken.setdefault(name.casefold(), []).append(student)
        clashing |= {student for group in taken.values() if len(group) > 1 for student in group}
        for student in clashing:
            base = safe_component(student).encode("utf-8")[:180].decode("utf-8", "ignore")
            names[student] = f"{base}-{hashlib.sha256(student.encode('utf-8')).hexdigest()[:digits]}"
    return names
