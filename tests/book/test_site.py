"""The website: table of contents, build, executed pages, Colab links, facts kept in one place."""
import re
from pathlib import Path

import pytest
import yaml

from tests import ROOT, source_of, toc_entries

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def colab_url(source: Path) -> str:
    """The Colab address of a notebook, from the one place the repository is named (_config.yml)."""
    repo = CONFIG["repository"]
    github_path = repo["url"].removeprefix("https://github.com/")
    return (f"{CONFIG['launch_buttons']['colab_url']}/github/{github_path}/blob/{repo['branch']}/"
            f"{source.relative_to(ROOT).as_posix()}")


def test_every_toc_entry_exists():
    for entry in toc_entries():
        assert source_of(entry["file"]).exists()


def test_toc_has_the_four_parts_in_order():
    captions = [part["caption"] for part in yaml.safe_load((ROOT / "_toc.yml").read_text())["parts"]]
    expected = [c for c in ["Preface", "Chapters", "Exercises", "Appendices"] if c in captions]
    assert captions == expected, f"_toc.yml parts are {captions}; expected this order: {expected}"
    assert "Preface" in captions, "_toc.yml needs a Preface part"


def test_every_chapter_and_exercise_is_in_the_toc():
    listed = {source_of(e["file"]).relative_to(ROOT).as_posix() for e in toc_entries()}
    pages = [p.relative_to(ROOT).as_posix() for p in
             [*ROOT.glob("book/*.ipynb"), *ROOT.glob("book/*.md"), *ROOT.glob("exercises/*/*.ipynb")]]
    missing = sorted(set(pages) - listed)
    assert not missing, f"not reachable from the website, add them to _toc.yml: {missing}"


def test_exercises_part_lists_the_student_versions():
    for entry in toc_entries():
        if entry["part"] == "Exercises":
            assert entry["file"].startswith("exercises/"), (
                f"{entry['file']} is in the Exercises part but is not a student notebook from exercises/")


def test_license_says_what_applies_to_text_code_and_data():
    terms = (ROOT / "LICENSE").read_text(encoding="utf-8")
    for named in ("CC BY 4.0", "LICENSE-CC-BY-4.0", "MIT License", "data/README.md"):
        assert named in terms, f"LICENSE does not mention {named}"
    legal_code = (ROOT / "LICENSE-CC-BY-4.0").read_text(encoding="utf-8")
    assert legal_code.startswith("Creative Commons Attribution 4.0 International Public License")
    assert "Section 8 -- Interpretation." in legal_code, "the CC BY 4.0 legal code is incomplete"
    assert "book/C-credits-and-license" in [entry["file"] for entry in toc_entries()], "no credits page in the TOC"


def pins(requirements: str) -> dict[str, str]:
    """package -> version of a requirements file's `name==version` lines."""
    lines = (ROOT / requirements).read_text(encoding="utf-8").splitlines()
    return dict(line.split("#")[0].strip().split("==") for line in lines if "==" in line and not line.startswith("#"))


def test_preface_versions_match_requirements():
    preface = (ROOT / "book/00-how-to-use-this-book.md").read_text(encoding="utf-8")
    stated = re.findall(r"^\| `([\w.-]+)` \| ([^ |]+) \| ([^ |]+) \|", preface, flags=re.M)
    assert stated, "the preface has no versions table"
    for source, column in (("requirements.txt", 1), ("requirements-colab.txt", 2)):
        expected = pins(source)
        for row in stated:
            package, version = row[0], row[column]
            if version != "—" or package in expected:
                assert expected.get(package) == version, (
                    f"the preface says {package} {version} but {source} pins {expected.get(package)}: "
                    f"{source} is the source, update the preface")


@pytest.mark.site
def test_every_page_is_built(site):
    for entry in toc_entries():
        page = site / (entry["file"] + ".html")
        assert page.exists(), f"{page} missing from the build"


@pytest.mark.site
def test_chapters_are_executed(site):
    """Chapters are shown with their outputs; exercises are shown as students get them."""
    for entry in toc_entries():
        source = source_of(entry["file"])
        if source.suffix == ".ipynb" and entry["part"] != "Exercises":
            html = (site / (entry["file"] + ".html")).read_text(encoding="utf-8")
            assert "cell_output" in html, f"{source.name} was not executed in the build: no outputs"


@pytest.mark.site
def test_notebook_pages_offer_colab_and_download(site):
    for entry in toc_entries():
        source = source_of(entry["file"])
        if source.suffix == ".ipynb":
            html = (site / (entry["file"] + ".html")).read_text(encoding="utf-8")
            assert colab_url(source) in html, f"{entry['file']}.html has no Colab link {colab_url(source)}"
            assert f"_sources/{entry['file']}.ipynb" in html, f"{entry['file']}.html has no .ipynb download"


@pytest.mark.site
def test_links_to_a_section_land_on_it(site):
    """A link like `01-...ipynb#variables` (the glossary has many) must name a section that exists."""
    ids = {page.resolve(): set(re.findall(r'\bid="([^"]+)"', page.read_text(encoding="utf-8")))
           for page in site.rglob("*.html")}
    link = re.compile(r'<a class="reference internal" href="([^"#]*\.html)#([^"]+)"')
    broken, checked = [], 0
    for entry in toc_entries():
        page = site / (entry["file"] + ".html")
        for href, anchor in link.findall(page.read_text(encoding="utf-8")):
            checked += 1
            if anchor not in ids.get((page.parent / href).resolve(), set()):
                broken.append(f"{entry['file']}: {href}#{anchor}")
    assert checked, "no links to sections found: has the theme changed its link markup?"
    assert not broken, "links to sections that do not exist:\n" + "\n".join(broken)


@pytest.mark.site
def test_pages_show_no_build_machine_paths(site):
    """Warnings print as "Category: message" (book/_setup/common.py), without the library file that raised them."""
    leaks = {}
    for entry in toc_entries():
        html = (site / (entry["file"] + ".html")).read_text(encoding="utf-8")
        found = re.findall(r"[^\s<>\"']*(?:site-packages|dist-packages|/\.venv)[^\s<>\"']*", html)
        if found:
            leaks[entry["file"]] = sorted(set(found))[:5]
    assert not leaks, f"pages that show paths of the machine that built them: {leaks}"


@pytest.mark.site
def test_feedback_links_land_on_each_task_of_the_built_exercise_page(site):
    """The autograder's feedback pages link each task to its section of the published book
    (Course.task_links, from html.baseurl): each link's page is built and has that section."""
    from autograder.course import Course

    course = Course(ROOT)
    assert course.site_url, "_config.yml sets no html.baseurl: feedback pages would link no task"
    checked = 0
    for assignment in course.assignments():
        for grade_id, url in course.task_links(course.spec(assignment)).items():
            page, anchor = url.removeprefix(course.site_url + "/").split("#")
            ids = set(re.findall(r'\bid="([^"]+)"', (site / page).read_text(encoding="utf-8")))
            assert anchor in ids, f"{grade_id}: {url} names no section of {page} (its ids: {sorted(ids)[:20]})"
            checked += 1
    assert checked >= len(course.assignments()), "no task links were checked"
