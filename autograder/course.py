"""The course: where the nbgrader source notebooks are and what each assignment grades."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from .messages import templates
from functools import cached_property
from pathlib import Path

CONFIG_NAME = "nbgrader_config.py"
SETTINGS_NAME = "grading.toml"  # the course's grading settings: due dates and late policy (late.py)
BOOK_CONFIG = "_config.yml"  # a course that is also a Jupyter Book: its html.baseurl is where the book is published
HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
POINTS_SUFFIX = re.compile(r"\s*\(\s*\d+(?:\.\d+)?\s+points?\s*\)\s*$")  # "(2 points)" at a heading's end


class CourseError(Exception):
    """The course folder or a source notebook is not usable (an instructor's problem, not a student's)."""


@dataclass(frozen=True)
class Test:
    """One graded cell of an assignment."""

    grade_id: str
    points: float
    heading: str = ""  # the last heading (## or deeper) since the test cell before ("Task 1: LossHistory (4 points)")
    answers: tuple[str, ...] = ()  # grade ids of the answer cells since the test cell before

    @property
    def title(self) -> str:
        """What learners read as the task's name: its heading without the points, else the grade id."""
        return POINTS_SUFFIX.sub("", self.heading) or self.grade_id


@dataclass(frozen=True)
class AssignmentSpec:
    """What nbgrader will grade in one assignment, read from its source notebook."""

    name: str
    folder: Path
    notebook: Path
    tests: tuple[Test, ...]
    cell_ids: frozenset[str]  # every nbgrader grade_id in the source (tests, answers, locked cells)
    graded_ids: frozenset[str]  # the ids of test cells and answer cells (each must appear once)
    hidden_lines: frozenset[str] = field(repr=False)
    source_sha256: str = ""
    # (grade id, patterns of the messages its source writes): what feedback may show (messages.py)
    messages: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), repr=False)
    hidden_cells: frozenset[str] = frozenset()  # the grade ids of the cells that hold hidden tests

    def message_patterns(self, grade_id: str) -> tuple[str, ...]:
        return next((patterns for name, patterns in self.messages if name == grade_id), ())

    @property
    def max_score(self) -> float:
        return float(sum(test.points for test in self.tests))


@dataclass(frozen=True)
class Course:
    """An nbgrader course folder: `nbgrader_config.py` plus the source folder it names."""

    root: Path

    @cached_property
    def config_file(self) -> Path | None:
        path = self.root / CONFIG_NAME
        return path if path.exists() else None

    @cached_property
    def settings(self) -> dict:
        """The course's grading.toml, parsed ({} when there is none); a CourseError says what is wrong in it."""
        import tomllib

        path = self.root / SETTINGS_NAME
        if not path.exists():
            return {}
        try:
            return tomllib.loads(path.read_text(encoding="utf-8-sig"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise CourseError(f"{path} cannot be read ({error}); fix it (it is TOML, UTF-8) and run again.") from None

    @cached_property
    def _directories(self) -> dict:
        """The CourseDirectory settings of the course's nbgrader config."""
        return dict(_load(self.config_file).get("CourseDirectory", {})) if self.config_file else {}

    @cached_property
    def source_dir(self) -> Path:
        """nbgrader's source folder: the single source of each exercise (solutions and hidden tests)."""
        return self.root / self._directories.get("source_directory", "source")

    @cached_property
    def checks_dir(self) -> Path:
        """The trusted checks (trusted.py): the course's own checks/ when it has one (a private course),
        else those of this package, the open book's."""
        from .trusted import CHECKS

        own = self.root / "checks"
        return own if own.is_dir() else CHECKS

    @cached_property
    def release_dir(self) -> Path:
        """nbgrader's release folder: the student versions, generated from the sources."""
        return self.root / self._directories.get("release_directory", "release")

    @cached_property
    def site_url(self) -> str | None:
        """Where the book is published: `html.baseurl` of the course's Jupyter Book config, if it sets one."""
        path = self.root / BOOK_CONFIG
        if not path.is_file():
            return None
        import yaml

        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError) as error:
            raise CourseError(f"{path} is not readable YAML ({error}): fix it or remove it.") from error
        html = config.get("html") if isinstance(config, dict) else None
        url = html.get("baseurl") if isinstance(html, dict) else None
        return str(url).rstrip("/") if url else None

    def task_links(self, spec: AssignmentSpec) -> dict[str, str]:
        """Grade id -> the address of its task's section on the book's page of the student version ({} when
        the course names no address, or publishes no such page)."""
        if not self.site_url:
            return {}
        from docutils.nodes import make_id  # the ids Sphinx gives the sections of a page

        try:
            page = self.release_notebook(spec.name).relative_to(self.root).with_suffix(".html").as_posix()
        except ValueError:  # a release folder outside the course folder is not part of its book
            return {}
        # a heading with no Latin letters or digits (Korean, say) gets an id by number, which the link cannot know
        return {test.grade_id: f"{self.site_url}/{page}#{anchor}" for test in spec.tests
                if (anchor := make_id(test.heading))}

    def source_notebook(self, assignment: str) -> Path:
        return self.source_dir / assignment / f"{assignment}.ipynb"

    def release_notebook(self, assignment: str) -> Path:
        return self.release_dir / assignment / f"{assignment}.ipynb"

    def assignments(self) -> list[str]:
        """Assignment ids: source sub-folders holding `<id>/<id>.ipynb`."""
        if not self.source_dir.is_dir():
            return []
        return sorted(p.name for p in self.source_dir.iterdir() if (p / f"{p.name}.ipynb").is_file())

    def spec(self, assignment: str) -> AssignmentSpec:
        """The grading spec of one assignment (read from its source notebook)."""
        if assignment not in self.assignments():
            raise CourseError(f"{self.source_notebook(assignment)} does not exist: "
                              f"'{assignment}' is not an assignment of this course (it has: "
                              f"{', '.join(self.assignments()) or 'none'}).")
        return read_spec(self.source_dir / assignment)

    def specs(self) -> tuple[dict[str, AssignmentSpec], dict[str, str]]:
        """The specs of every assignment whose source is usable, and the problem with each other one."""
        specs, broken = {}, {}
        for name in self.assignments():
            try:
                specs[name] = self.spec(name)
            except CourseError as error:
                broken[name] = str(error)
        return specs, broken


def nbgrader_metadata(cell: dict) -> dict:
    """A notebook cell's nbgrader metadata ({} when it has none, or none that is a dict)."""
    metadata = cell.get("metadata")
    data = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return data if isinstance(data, dict) else {}


def grade_id(cell: dict) -> str | None:
    """A notebook cell's nbgrader grade id, if it has one."""
    return nbgrader_metadata(cell).get("grade_id")


def find_course(start: Path | None = None) -> Course:
    """The nearest folder at or above `start` (default: here, then this package's repository) with a config."""
    candidates = []
    here = (start or Path.cwd()).resolve()
    candidates += [here, *here.parents]
    if start is None:
        candidates.append(Path(__file__).resolve().parent.parent)
    for folder in candidates:
        if (folder / CONFIG_NAME).is_file():
            return Course(folder)
    raise CourseError(f"no {CONFIG_NAME} found in {here} or above: run inside the course repository or "
                      "pass --course DIR.")


def folder_sha256(folder: Path) -> str:
    """A hash of every file (name and bytes) in a folder, to know when a source changed."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def read_spec(folder: Path) -> AssignmentSpec:
    """Read the grade cells, points and hidden-test lines of the source notebook in `folder`."""
    notebook = folder / f"{folder.name}.ipynb"
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError) as error:
        raise CourseError(f"{notebook} is not a readable notebook ({error}): fix the source notebook.") from error
    tests, ids, graded, hidden, patterns, hiding = [], set(), set(), set(), [], set()
    heading, answers = "", []
    for cell in cells:
        meta = nbgrader_metadata(cell)
        source = "".join(cell.get("source", ""))
        if "grade_id" in meta:
            ids.add(meta["grade_id"])
        if cell.get("cell_type") == "markdown":  # a task's heading comes after the test cell of the task before
            heading = next(reversed(headings(source, levels=range(2, 7))), heading)  # level 1 names the notebook
        if meta.get("solution") and not meta.get("grade"):
            answers.append(meta["grade_id"])
        if meta.get("grade"):
            tests.append(Test(meta["grade_id"], float(meta.get("points", 0)), heading, tuple(answers)))
            patterns.append((meta["grade_id"], templates(source)))
            heading, answers = "", []
        if meta.get("grade") or meta.get("solution"):
            graded.add(meta["grade_id"])
        for block in HIDDEN_BLOCK.findall(source):
            hidden.update(line.strip() for line in block.splitlines() if len(line.strip()) >= 6)
            hiding.add(meta.get("grade_id"))
    if not tests:
        raise CourseError(f"{notebook} has no graded cells: mark its test cells with nbgrader points.")
    return AssignmentSpec(folder.name, folder, notebook, tuple(tests), frozenset(ids), frozenset(graded),
                          frozenset(hidden), folder_sha256(folder), tuple(patterns), frozenset(hiding - {None}))


def headings(markdown: str, levels: range = range(1, 7)) -> list[str]:
    """The text of each heading of a Markdown cell (of the given levels), as a reader sees it: code marks
    and emphasis gone."""
    from markdown_it import MarkdownIt  # a dependency of rich, hence of keras: wherever grading runs

    tokens = MarkdownIt("commonmark").parse(markdown)
    return [" ".join("".join(child.content for child in inline.children or []
                             if child.type in ("text", "code_inline")).split())
            for token, inline in zip(tokens, tokens[1:])
            if token.type == "heading_open" and int(token.tag[1:]) in levels]


def nbgrader_config(root: Path, assignment: str, *, config_file: Path | None = None, db_url: str | None = None,
                    source: str = "source", release: str = "release"):
    """nbgrader's settings (a traitlets Config) for one assignment of a course folder laid out at `root`: the
    instructor's config file, if any, then this folder's layout, which always wins."""
    from traitlets.config import Config

    config = Config()
    if config_file is not None:
        config.merge(_load(config_file))
    directory = config.CourseDirectory
    directory.root = str(root)
    directory.source_directory = source
    directory.release_directory = release
    directory.assignment_id = assignment
    if db_url is not None:
        directory.db_url = db_url
    return config


def _load(config_file: Path):
    """The instructor's nbgrader_config.py, as the traitlets Config it builds."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config()
