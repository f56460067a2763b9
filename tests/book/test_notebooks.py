"""Rules every notebook follows: clean in git, self-contained in Colab, the chapter template."""
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from tests import ROOT

SETUP = (ROOT / "book/_setup/common.py").read_text(encoding="utf-8").strip()
MNIST = (ROOT / "book/_setup/mnist.py").read_text(encoding="utf-8").strip()
TRACKED = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
NOTEBOOKS = sorted({*TRACKED, *(p.relative_to(ROOT).as_posix() for p in ROOT.glob("[bes]*/**/*.ipynb"))})
CHAPTERS = [n for n in NOTEBOOKS if re.fullmatch(r"book/\d\d-[a-z0-9-]+\.ipynb", n)]


def read(path: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / path, as_version=4)


def code_cells(nb) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_is_valid_and_committed_without_outputs(path):
    nb = read(path)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, (f"{path}: cells {dirty} have outputs or execution counts; strip them "
                       f"(jupyter nbconvert --clear-output --inplace {path})")


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_setup_cell_comes_first(path):
    """Backend, seeds, versions and the GPU line: book/_setup/common.py, verbatim, opens every notebook."""
    first = next(cell for cell in read(path).cells if cell.cell_type == "code")
    assert first.source.startswith(SETUP), (
        f"{path}: the first code cell must start with the text of book/_setup/common.py, verbatim")
    # On machines without a GPU, TensorFlow's C++ start-up prints lines to stderr that no setting hides.
    assert "remove-stderr" in first.metadata.get("tags", []), (
        f"{path}: tag the setup cell 'remove-stderr' so TensorFlow's start-up noise stays off the website")


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_mnist_comes_from_the_shared_loader(path):
    nb = read(path)
    uses_mnist = any("load_mnist(" in source or "mnist" in source.lower() for source in code_cells(nb)[1:])
    if uses_mnist:
        first = code_cells(nb)[0]
        assert first.startswith(SETUP + "\n" + MNIST) or first.startswith(SETUP + "\n\n" + MNIST), (
            f"{path} uses MNIST: its setup cell must continue with book/_setup/mnist.py, verbatim")


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_runs_alone_in_colab(path):
    """No pip install of TensorFlow/Keras, and no file of the repository but the offline data fallback."""
    for source in code_cells(read(path)):
        source = source.replace(MNIST, "")
        assert not re.search(r"pip install[^\n]*\b(tensorflow|keras)\b", source), (
            f"{path}: never pip install TensorFlow or Keras: Colab ships them")
        assert not re.search(r"""["'](\.\./|data/|book/|solutions/|exercises/)""", source), (
            f"{path} reads a file from the repository, which Colab does not have:\n{source[:300]}")


@pytest.mark.parametrize("path", CHAPTERS)
def test_chapter_follows_the_template(path):
    nb = read(path)
    intro = nb.cells[0]
    assert intro.cell_type == "markdown" and intro.source.startswith("# "), (
        f"{path}: the first cell is the Markdown title '# ...'")
    for part in ("What you will learn", "Prerequisites"):
        assert part in intro.source, f"{path}: the first cell must contain '{part}'"
    headings = [line for cell in nb.cells if cell.cell_type == "markdown"
                for line in cell.source.splitlines() if line.startswith("## ")]
    closing = [h.removeprefix("## ").strip() for h in headings[-3:]]
    assert closing == ["Common mistakes", "Summary", "Exercises"], (
        f"{path}: a chapter ends with the sections Common mistakes, Summary, Exercises; it ends with {closing}")


EXERCISES = sorted(path.parent.name for path in ROOT.glob("exercises/*/*.ipynb") if path.stem == path.parent.name)


def prerequisites(assignment: str) -> set[int]:
    """The chapters the exercise's title cell names as its prerequisites (the links of that paragraph)."""
    intro = read(f"exercises/{assignment}/{assignment}.ipynb").cells[0].source
    paragraph = re.search(r"\*\*Prerequisites\*\*(.*?)(?:\n\s*\n|\*\*Time\*\*|$)", intro, re.S)
    return {int(number) for number in re.findall(r"\(\.\./\.\./book/(\d\d)-", paragraph[1] if paragraph else "")}


def exercises_section(path: str) -> str:
    """The Markdown of a chapter from its '## Exercises' heading on."""
    text = "\n\n".join(cell.source for cell in read(path).cells if cell.cell_type == "markdown")
    return text[text.rindex("## Exercises"):]


def test_every_exercise_names_its_prerequisite_chapters():
    assert EXERCISES, "no exercise under exercises/"
    missing = [assignment for assignment in EXERCISES if not prerequisites(assignment)]
    assert not missing, f"exercises whose **Prerequisites** link no chapter (../../book/0N-...ipynb): {missing}"


@pytest.mark.parametrize("path", CHAPTERS)
def test_exercises_section_links_graded_practice_and_says_what_it_needs(path):
    """Each chapter links a graded exercise that practises it (the chapter is among the exercise's prerequisites);
    an exercise that also needs a later chapter is linked only together with that chapter; and every exercise is
    linked from the last chapter it needs, where a learner is ready for all of it."""
    number, section = int(Path(path).name[:2]), exercises_section(path)
    linked = set(re.findall(r"\]\(\.\./exercises/([a-z0-9_]+)/\1\.ipynb\)", section))
    assert any(number in prerequisites(assignment) for assignment in linked), (
        f"{path}: its Exercises section links no graded exercise that practises this chapter (one whose "
        f"Prerequisites name chapter {number}); it links {sorted(linked)}")
    later = {f"{assignment} needs chapter {needed}" for assignment in linked for needed in prerequisites(assignment)
             if needed > number and not re.search(rf"\]\({needed:02d}-[a-z0-9-]+\.ipynb[)#]", section)}
    assert not later, f"{path}: it links exercises that need later chapters without linking those: {sorted(later)}"
    owed = [assignment for assignment in EXERCISES if max(prerequisites(assignment), default=0) == number
            and assignment not in linked]
    assert not owed, f"{path}: chapter {number} completes the prerequisites of {owed}; link them from its Exercises"


@pytest.mark.parametrize("path", CHAPTERS)
def test_code_cells_are_short(path):
    long_cells = [source.splitlines()[0] for source in code_cells(read(path))[1:] if len(source.splitlines()) > 40]
    assert not long_cells, f"{path}: code cells over 40 lines (one idea per cell): {long_cells}"


@pytest.mark.parametrize("path", CHAPTERS)
def test_outputs_are_read_in_one_style(path):
    """Every chapter points at what its outputs show with "What to notice", never a bare "Notice that"."""
    prose = "\n".join(cell.source for cell in read(path).cells if cell.cell_type == "markdown")
    assert "What to notice" in prose, f"{path}: say what to notice in the outputs ('What to notice: ...')"
    odd = re.findall(r"(?m)^Notice\b.{0,40}", prose)
    assert not odd, f"{path}: write 'What to notice: ...' like the other chapters, not {odd}"
