"""The test suite, laid out like the repository: book/ (chapters, site, Colab), exercises/ (the graded
exercises and their misconception catalogue), autograder/ (the grading pipeline; sandbox/ for the room
where student code runs). Fixtures live in conftest.py files; these are the paths and the table of
contents that tests in every folder read."""

import contextlib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
SCREENSHOTS = BUILD / "screenshots"  # kept for people to look at: the site's pages, the class report
CHROMIUM = Path("/usr/bin/chromium")  # Debian's (.ci/install installs it); playwright downloads no browser


@contextlib.contextmanager
def chromium_page(width: int = 1400, height: int = 900):
    """A page of headless Chromium (driven by Playwright), closed afterwards."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"])
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


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
