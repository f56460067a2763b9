"""Shared fixtures and hooks: the website, built once per test run; how tests are spread over processes;
the `slow` marker's rule."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import BUILD, ROOT

# Tests never download anything: notebooks use the MNIST subset in data/ (see data/README.md).
os.environ["KDD_OFFLINE"] = "1"


# What one test process runs together (`-n 2 --dist loadgroup` in pytest.ini): the tests that share an
# expensive session fixture, so that it is built once; every other test stays with its module, whose module
# fixtures it shares. The attack suite's two batches are independent and get a group each; its uid-only tier
# and Gradescope's containers share one: both make the course's solutions private while they grade
# (autograder/test_attacks.private_course_sources) and must not overlap. Modules are named by their path
# below tests/.
SESSION_FIXTURES = {"site": "site", "exercise_grades": "exercise-grades"}
ATTACKS_MODULE = "autograder/test_attacks.py"
SEPARATE_MODULES = ("book/test_colab.py",)  # modules whose tests share nothing: each test is a group of its own
# the groups that take minutes, longest first: they start first, so that none is left for the end of the run
SLOW_GROUPS = ("attacks-uid-and-gradescope", "attacks-bwrap", "exercise-grades", "site")
# The fast tier is `pytest -m "not slow"`: a test is slow when it uses one of these fixtures (each grades
# notebooks, runs kernels or builds the site) or is marked `slow` where it is defined.
SLOW_FIXTURES = {"site", "exercise_grades", "source_runs", "batch", "canvas", "gradescope", "without_namespaces",
                 "hostile", "term", "run", "leavers"}


def test_group(item: pytest.Item) -> str:
    """The xdist group of a test."""
    for fixture, group in SESSION_FIXTURES.items():
        if fixture in item.fixturenames:
            return group
    module = item.path.relative_to(Path(__file__).parent).as_posix()
    if module == ATTACKS_MODULE:
        tier = getattr(getattr(item, "callspec", None), "params", {}).get("run")
        return "attacks-bwrap" if str(tier) == "bwrap" else "attacks-uid-and-gradescope"
    if module in SEPARATE_MODULES:
        return item.nodeid
    return module


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    groups = {item: test_group(item) for item in items}
    for item, group in groups.items():
        item.add_marker(pytest.mark.xdist_group(group))
        if SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)
    rank = {group: index for index, group in enumerate(SLOW_GROUPS)}
    items.sort(key=lambda item: rank.get(groups[item], len(SLOW_GROUPS)))  # stable: modules stay together


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
