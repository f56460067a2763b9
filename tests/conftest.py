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


# What one test process runs together (`-n 2 --dist loadgroup` in pytest.ini): the tests that share an
# expensive session fixture, so that it is built once; every other test stays with its module, whose module
# fixtures it shares. The attack suite's two batches are independent and get a group each; its uid-only tier
# and Gradescope's containers share one: both make the course's solutions private while they grade
# (test_autograder_attacks.private_course_sources) and must not overlap.
SESSION_FIXTURES = {"site": "site", "exercise_grades": "exercise-grades"}
ATTACKS_MODULE = "test_autograder_attacks.py"
SEPARATE_MODULES = ("test_colab.py",)  # modules whose tests share nothing: each test is a group of its own
# the groups that take minutes, longest first: they start first, so that none is left for the end of the run
SLOW_GROUPS = ("attacks-uid-and-gradescope", "attacks-bwrap", "exercise-grades", "site")


def test_group(item: pytest.Item) -> str:
    """The xdist group of a test."""
    for fixture, group in SESSION_FIXTURES.items():
        if fixture in item.fixturenames:
            return group
    if item.path.name == ATTACKS_MODULE:
        tier = getattr(getattr(item, "callspec", None), "params", {}).get("run")
        return "attacks-bwrap" if str(tier) == "bwrap" else "attacks-uid-and-gradescope"
    if item.path.name in SEPARATE_MODULES:
        return item.nodeid
    return item.path.name


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    groups = {item: test_group(item) for item in items}
    for item, group in groups.items():
        item.add_marker(pytest.mark.xdist_group(group))
    rank = {group: index for index, group in enumerate(SLOW_GROUPS)}
    items.sort(key=lambda item: rank.get(groups[item], len(SLOW_GROUPS)))  # stable: modules stay together


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
