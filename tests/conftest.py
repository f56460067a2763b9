"""Shared fixtures: the repository paths and the website, built once per test run."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"

# Tests never download anything: notebooks use the MNIST subset in data/ (see data/README.md).
os.environ["KDD_OFFLINE"] = "1"


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


@pytest.fixture(scope="session")
def site() -> Path:
    """Build the website like CI does: every notebook executed, Sphinx warnings are errors."""
    log = BUILD / "site-build.log"
    BUILD.mkdir(exist_ok=True)
    started = time.perf_counter()
    result = subprocess.run(
        [str(Path(sys.executable).with_name("jupyter-book")), "build", str(ROOT), "-W", "--keep-going"],
        cwd=ROOT, capture_output=True, text=True)
    log.write_text(result.stdout + result.stderr, encoding="utf-8")
    print(f"\nsite build: {time.perf_counter() - started:.0f} s (log: {log.relative_to(ROOT)})")
    assert result.returncode == 0, (
        f"jupyter-book build failed (exit {result.returncode}); the end of {log}:\n"
        + (result.stdout + result.stderr)[-6000:])
    return BUILD / "html"
