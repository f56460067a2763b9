"""The test suite, laid out like the repository: book/ (chapters, site, Colab), exercises/ (the graded
exercises and their misconception catalogue), autograder/ (the grading pipeline; sandbox/ for the room
where student code runs). Fixtures live in conftest.py files; these are the paths and the table of
contents that tests in every folder read."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"


def toc_entries() -> list[dict]:
    """Every entry of _toc.yml in reading order, each with its part caption."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    entries = [{"file": toc["root"], "part": None}]
    for part in toc.get("parts", []):
        for chapter in part["chapters"]:
            entries.append({"file": chapter["file"], "part": part["caption"]})
    return entries


def source_of(entry_file: str) -> Path:
    """The .ipynb or .md file behind a TOC entry."""
    for suffix in (".ipynb", ".md"):
        path = ROOT / (entry_file + suffix)
        if path.exists():
            return path
    raise FileNotFoundError(f"_toc.yml lists {entry_file!r} but neither {entry_file}.ipynb nor .md exists")
