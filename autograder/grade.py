"""`grade`: inputs -> archive -> checks -> nbgrader in parallel jobs -> gradebook, grades, feedback.

The output folder keeps state between runs, which makes grading idempotent and resumable:
  archive/            every input as received (see archive.py); grades always cover all of it
  results/<key>.json  one finished grading result per (notebook bytes, assignment source, limits);
                      a rerun reuses it, so an interrupted batch only grades what is missing
  results/<key>.ipynb the notebook as nbgrader executed it (for instructors: it holds hidden tests)
  gradebook.db        nbgrader's gradebook (or the database given by --db)
  grades.json, grades.csv, feedback/<student>/<assignment>.html   rewritten by every run, and so are
  report.html, report.json, report/ (report.py) and canvas-feedback/ (feedback.py)
  grade.log           what each run did, appended

Which submission counts: per student and assignment, the latest valid notebook is graded; older
ones stay archived. Who owns a file and when its upload arrived are decided at intake (intake.py),
"latest" by `Submission.order` (model.py); the README's "Which submission counts" states the rules. A rejected
file never replaces a valid one, but is always listed in grades.json so that its student can be told.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import logging
import shutil
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, TextIO

from . import identity, late, similarity, trusted
from . import overrides as manual
from .archive import Archive
from .course import AssignmentSpec, Course, find_course
from .detect import Detection, detect, guess_assignment
from .files import atomic_write, sha256_bytes
from .intake import receive
from .limits import Limits, threads_per_worker
from .model import Candidate, Result, Row, Status, Submission, UsageError, latest
from .progress import Progress, printable, summary
from .sandbox import tiers
from .sandbox.tiers import Tier
from .settings import Settings

if TYPE_CHECKING:
    from .pool import Job

LOG = logging.getLogger("autograder")  # the main process's log: --out's grade.log, and stderr with --verbose
LOG_FILE = "grade.log"
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
GRADER_VERSION = "5"  # bump when a change to grading could change a score or a message (invalidates cached results)


@dataclass
class Outcome:
    """What a `grade` run produced."""

    out: Path
    rows: list[Row]
    superseded: int = 0
    graded_now: int = 0
    reused: int = 0
    feedback: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # about inputs that got no row, and look-alike student ids
    similar: list[similarity.Pair] = field(default_factory=list)  # answer code that looks alike (the report's)

    def summary(self) -> str:
        """The summary table and where the outputs are."""
        return (summary(self.rows, self.superseded) + "\n"
                + "".join(f"Note: {printable(note)}\n" for note in self.notes) +
                f"Wrote {self.out / 'grades.json'}, {self.out / 'grades.csv'}, the class report "
                f"{self.out / 'report.html'} and {len(self.feedback)} feedback page(s) in {self.out / 'feedback'} "
                f"({self.graded_now} graded now, {self.reused} from earlier runs).")

    def by_student(self, student: str, assignment: str) -> Row:
        """The row of one student's assignment (tests use this)."""
        matches = [row for row in self.rows if row.student == student and row.assignment == assignment and row.chosen]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} chosen rows for {student}/{assignment}")
        return matches[0]


class JobKind(enum.Enum):
    SUBMISSIONS = "submissions"  # one notebook, for every candidate that submitted exactly these bytes
    REFERENCE = "reference"  # the assignment's reference solution, for the trusted check's reference values


@dataclass(frozen=True)
class JobContext:
    """The parent's side of a grading job (the worker gets `pool.Job.payload`)."""

    kind: JobKind
    key: str
    spec: AssignmentSpec
    nonces: tuple[str, ...]  # mark each seed's probe output (trusted.py)
    seeds: tuple[int, ...]
    group: tuple[Candidate, ...] = ()  # SUBMISSIONS: identical notebooks are graded once


def result_key(sha256: str, spec: AssignmentSpec, limits: Limits, tier: Tier, check: str) -> str:
    """Cache key of a grading result: what was graded, against which source and check, under which limits,
    in which sandbox tier (a result is reused only by a run in the same tier)."""
    text = (f"{GRADER_VERSION}|{sha256}|{spec.name}|{spec.source_sha256}|{limits.key()}|sandbox={tier}|"
            f"check={check}")
    return sha256_bytes(text.encode("utf-8"))[:32]


def grade(paths: list[Path], out: Path, *, course: Course | None = None, assignment: str | None = None,
          student: str | None = None, workers: int = 1, limits: Limits | None = None, db_url: str | None = None,
          stream: TextIO | None = None, sandboxed: bool = True, tier: Tier | None = None,
          spare_seeds: bool = True, fresh_kernels: bool = False, overrides: Path | None = None,
          csv_bom: bool | None = None, submitted_at: float | None = None,
          due: dict[str, object] | None = None, regrade: bool | frozenset[str] = False) -> Outcome:
    """Grade everything in `paths` (plus what `out` already archived) and write the outputs into `out`.

    Student code runs in the strongest sandbox tier that works here (sandbox/tiers.py), or in `tier`; with none,
    grading is refused. `sandboxed=False` (the CLI's --unsafe) runs it with the grader's rights, which
    only suits notebooks the instructor trusts. Kernels are forked from a template per worker where the
    sandbox allows (zygote.py); `fresh_kernels` starts each one afresh (slower, same grades). The manual
    changes in `overrides` (default: `out`/overrides.csv, when it exists) are applied last (overrides.py).
    Due dates, similarity settings and Canvas ids come from the course's grading.toml (settings.py), and so does
    `csv_bom` when it is None. An LMS that says itself when a submission came and when it was due (Gradescope's
    submission_metadata.json) gives `submitted_at` (for every input of this run) and `due` (assignment -> due
    date), which win over file times and grading.toml's dates. `regrade` grades again, instead of reusing an
    earlier run's result: every submission (True) or those of the students named. Each run appends what it
    did to `out`/grade.log.
    """
    limits = limits or Limits()
    tier = tier if tier is not None else tiers.choose(unsafe=not sandboxed)
    if tier is Tier.UID and db_url and not db_url.startswith("sqlite:"):
        raise UsageError(f"--db {db_url.split('://')[0]}://...: the uid-only sandbox cannot cut the network, so "
                         "student code could reach that database (its address is in this command line, which "
                         "every user of the machine can read). Grade into the default SQLite gradebook, or where "
                         "bubblewrap works.")
    course = course or find_course()
    if overrides is not None and not overrides.is_file():
        raise UsageError(f"--overrides {overrides}: no such file. Name the CSV of manual changes (see `grade --help`), "
                         "or leave the option out.")
    stream = stream if stream is not None else sys.stderr
    specs, broken = _specs(course, assignment, stream)
    settings = Settings.read(course, due)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock, _logging_to(out / LOG_FILE):
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another `grade` run is writing to {out}; wait for it or use another --out.") from None
        from .sandbox.cleanup import clean_leftovers

        LOG.info("grade %s into %s: course %s, sandbox %s, %d worker(s), %s", printable(" ".join(map(str, paths))),
                 out, course.root, tier, workers, limits)
        clean_leftovers(out / ".work")  # of a run that was killed
        if tier is Tier.UID:  # no mount namespace: only file permissions keep grader files from student code
            tiers.protect(own=[out, _state_dir(course, out)], secret=_secrets(course, paths, student, db_url))
        archive = Archive(out / "archive")
        notes: list[str] = []
        receive(paths, archive, student=student, assignment=assignment, max_bytes=limits.file_mb * 2**20,
                exclude=out, notes=notes)
        submissions = archive.submissions()
        if submitted_at is not None:  # the LMS's word on when they came, over the files' times
            submissions = [replace(submission, arrived=submitted_at) for submission in submissions]
        items = [_check(submission, archive, specs, broken, limits) for submission in submissions]
        report, superseded = _choose(items)
        LOG.info("%d submission(s) archived; %d count, %d superseded, %d rejected", len(items),
                 sum(1 for item in report if not item.problem), superseded, sum(1 for item in report if item.problem))
        outcome = Outcome(out, [], superseded=superseded, notes=notes + _lookalike_notes(report))
        gradable = [item for item in report if not item.problem and not item.failure]
        state = _state_dir(course, out)
        plans = {name: trusted.plan(name, specs[name].source_sha256, state, spare_seeds, course.checks_dir)
                 for name in sorted({item.assignment for item in gradable})}
        results = _grade_all(gradable, archive, course, specs, limits, workers, out, stream, outcome, tier,
                             plans, fresh_kernels, settings.due, regrade)
        outcome.rows = sorted((_row(item, specs, results.get(id(item)), plans, settings.due) for item in report),
                              key=lambda row: (row.student or "", row.assignment or "", row.source))
        outcome.rows = _flag_identical(outcome.rows)
        try:
            outcome.similar = similarity.pairs(outcome.rows, archive.read, specs, settings.similarity)
        except Exception as error:  # a check that changes no score never costs anyone their grade
            outcome.notes.append(f"the code similarity check could not run ({type(error).__name__}: {error}); "
                                 "grades are complete, only its flags are missing. Please report this.")
        outcome.rows = similarity.flag(outcome.rows, outcome.similar)
        _apply_overrides(outcome, overrides if overrides is not None else out / manual.FILE)
        _write_outputs(outcome, specs, course, db_url or f"sqlite:///{(out / 'gradebook.db').resolve()}", settings,
                       settings.grade.csv_bom if csv_bom is None else csv_bom)
        for note in outcome.notes:
            LOG.warning("note: %s", printable(note))
        LOG.info("wrote grades.json, grades.csv, report.html and %d feedback page(s): %d graded now, %d reused",
                 len(outcome.feedback), outcome.graded_now, outcome.reused)
    return outcome


@contextlib.contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """The main process's log also goes to `path` (appended) while the block runs."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    try:
        yield
    finally:
        LOG.removeHandler(handler)
        handler.close()


def _flag_identical(rows: list[Row], named: int = 5) -> list[Row]:
    """Flag, without changing a score, each counted submission whose file is byte for byte another student's
    counted submission of the same assignment (an untouched or all-wrong notebook, worth 0, is no copy)."""
    students: dict[tuple[str | None, str | None], list[str]] = {}
    for row in rows:
        if row.chosen and row.status is Status.GRADED and row.score and row.student:
            students.setdefault((row.assignment, row.sha256), []).append(row.student)
    flagged = []
    for row in rows:
        others = [student for student in students.get((row.assignment, row.sha256), []) if student != row.student]
        if row.chosen and row.status is Status.GRADED and row.score and others:
            more = f" and {len(others) - named} more" if len(others) > named else ""
            row = replace(row, flags=(*row.flags, f"integrity: the same file, byte for byte, as the submission of "
                                                  f"{', '.join(others[:named])}{more} (the score is unchanged)"))
        flagged.append(row)
    return flagged


def _apply_overrides(outcome: Outcome, path: Path) -> None:
    """Apply the instructor's manual changes to the rows; a note for each line that cannot be applied."""
    if not path.is_file():
        return
    found, notes = manual.read(path)
    outcome.rows, applying = manual.apply(outcome.rows, found, path.name)
    outcome.notes += notes + applying


def _secrets(course: Course, paths: list[Path], student: str | None, db_url: str | None) -> list[Path]:
    """What a kernel must not read besides the grader's own folders: the course's source (solutions,
    hidden tests), the trusted checks, the inputs when they are several students' and a gradebook
    named by --db."""
    secret = [course.source_dir, course.checks_dir]
    if student is None:  # one student's own files (a Gradescope submission) are no secret to that student
        secret += paths
    if db_url and db_url.startswith("sqlite:///"):
        secret.append(Path(db_url.removeprefix("sqlite:///")))
    return secret


def _specs(course: Course, assignment: str | None, stream: TextIO) -> tuple[dict[str, AssignmentSpec], dict]:
    """The course's usable assignments; a broken source only fails its own submissions."""
    specs, broken = course.specs()
    if not specs and not broken:
        raise UsageError(f"{course.source_dir} holds no assignments (<id>/<id>.ipynb): check --course.")
    if assignment in broken:
        raise UsageError(broken[assignment])
    if assignment is not None and assignment not in specs:
        raise UsageError(f"--assignment {assignment!r} is not an assignment of this course "
                         f"(it has: {', '.join(sorted(specs))}).")
    for problem in broken.values():
        stream.write(f"warning: {problem} Its submissions are reported as failed.\n")
    return specs, broken


def _check(submission: Submission, archive: Archive, specs: dict[str, AssignmentSpec], broken: dict[str, str],
           limits: Limits) -> Candidate:
    """Detect the assignment of an archived submission, or why it cannot be graded."""
    if submission.problem:
        detection = Detection(submission.assignment, submission.problem)
    else:
        assert submission.sha256 is not None, "a submission without a problem has bytes"
        detection = detect(archive.read(submission.sha256), specs, expected=submission.assignment,
                           max_bytes=limits.file_mb * 2**20)
    if detection.foreign in broken:  # a notebook of an assignment whose source is broken
        return Candidate(submission, detection.foreign, None,
                         failure=f"its assignment's source is not usable: {broken[detection.foreign]}")
    # a rejected file still says, through its name, which assignment its student meant to submit
    assignment = detection.assignment or (guess_assignment(submission.name, specs) if detection.problem else None)
    return Candidate(submission, assignment, detection.problem)


def _choose(items: list[Candidate]) -> tuple[list[Candidate], int]:
    """Rejected items plus the latest valid item per (student, assignment); count the superseded ones."""
    valid = [item for item in items if not item.problem]
    chosen = latest(valid, group=lambda item: item.group, order=lambda item: item.submission.order)
    rejected = [item for item in items if item.problem]  # every one, so that its student can be told
    return rejected + list(chosen.values()), len(valid) - len(chosen)


def _lookalike_notes(items: list[Candidate]) -> list[str]:
    """A note for each group of different student ids that look alike (kept apart, never merged)."""
    students = {item.submission.student for item in items if item.submission.student}
    return [f"the student ids {', '.join(repr(student) for student in group)} look alike but differ: they are "
            "graded as different students, each with a feedback folder of its own. If they are one student, "
            "rename the folders to one id and grade again." for group in identity.lookalikes(students)]


def _grade_all(items: list[Candidate], archive: Archive, course: Course, specs: dict[str, AssignmentSpec],
               limits: Limits, workers: int, out: Path, stream: TextIO, outcome: Outcome,
               tier: Tier, plans: dict[str, trusted.Plan], fresh_kernels: bool = False,
               due: dict[str, late.Policy] | None = None, regrade: bool | frozenset[str] = False) -> dict[int, Result]:
    """Results for every valid item: from results/ when graded before (unless `regrade` names its student, or is
    True), otherwise graded now.

    Submissions whose seeds have no reference values yet get reference jobs: the assignment's source
    notebook, graded the same way, with the probes of REFERENCE_BATCH seeds (trusted.Plan).
    """
    results: dict[int, Result] = {}
    todo: dict[str, list[Candidate]] = {}
    checked = {name: [_sha(item) for item in items if item.assignment == name]
               for name, current in plans.items() if current.check is not None}
    for name, submissions in checked.items():
        plans[name].give(submissions)  # each new notebook gets a seed of its own
    for item in items:
        key = result_key(_sha(item), specs[_name(item)], limits, tier, plans[_name(item)].cache_key(_sha(item)))
        again = regrade is True or (bool(regrade) and item.submission.student in regrade)
        cached = None if again else _cached(out / "results" / f"{key}.json")
        if cached is not None:
            results[id(item)] = cached
            outcome.reused += 1
        else:
            todo.setdefault(key, []).append(item)  # identical notebooks are graded once
    references = [(name, batch) for name in sorted(checked) for batch in plans[name].seeds_to_compute(checked[name])]
    LOG.info("%d result(s) reused from earlier runs; %d notebook(s) to grade now, %d reference run(s)",
             len(results), len(todo), len(references))
    if not todo and not references:
        return results
    from . import gradebook, jobs, worker
    from .pool import Job, WorkerPool

    work = out / ".work"
    pool = WorkerPool(min(workers, len(todo) + len(references)), work / "logs", worker.workers())
    try:
        templates = {name: gradebook.template(specs[name], _template_cache(course, out), course.config_file)
                     for name in sorted({_name(group[0]) for group in todo.values()} | {n for n, _ in references})}

        def job(kind: JobKind, key: str, spec: AssignmentSpec, notebook: Path, seeds: list[int],
                group: tuple[Candidate, ...] = ()) -> Job:
            workdir = work / key
            current = plans[spec.name]
            job_limits = limits.for_reference(len(seeds)) if kind is JobKind.REFERENCE else limits
            nonces = jobs.prepare(workdir, spec, templates[spec.name], notebook, course.root / "data",
                                  (current.check, seeds) if current.check else None)
            payload = {"workdir": str(workdir.resolve()), "assignment": spec.name, "student": jobs.JOB_STUDENT,
                       "config_file": str(course.config_file) if course.config_file else None,
                       "limits": asdict(job_limits), "threads": threads_per_worker(workers),
                       "sandbox": tier, "data_dir": str((course.root / "data").resolve()),
                       "kernels": "fresh" if fresh_kernels else "forked", "hidden_cells": sorted(spec.hidden_cells)}
            return Job(payload, job_limits.job_seconds, JobContext(kind, key, spec, tuple(nonces), tuple(seeds), group))

        def student_job(key: str, group: list[Candidate]) -> Job:
            current = plans[_name(group[0])]
            seeds = [current.seed(_sha(group[0]))] if current.check else []
            return job(JobKind.SUBMISSIONS, key, specs[_name(group[0])], archive.blob(_sha(group[0])), seeds,
                       tuple(group))

        queue = [student_job(key, group) for key, group in todo.items()]
        reference_jobs = [job(JobKind.REFERENCE, f"reference-{name}-{index}", specs[name], specs[name].notebook, batch)
                          for index, (name, batch) in enumerate(references)]
        # sandboxed, reference values are out of the kernels' reach: compute them first; without the sandbox,
        # last, so that they are not on disk while student code runs
        queue = reference_jobs + queue if tier else queue + reference_jobs
        progress = Progress(sum(len(group) for group in todo.values()), stream, references=len(reference_jobs))

        def finished(job: Job, reply: dict) -> None:
            context: JobContext = job.context
            result = _result(job, reply, out)
            LOG.info("%s %s (%s) in %s s: %s%s", context.kind.value, printable(", ".join(
                str(item.submission.student) for item in context.group) or context.key), context.spec.name,
                reply.get("seconds"), result.status.value, f" ({printable(result.error)})" if result.error else "")
            if context.kind is JobKind.REFERENCE:
                name = context.spec.name
                if result.status is Status.GRADED:
                    for seed, observed in zip(context.seeds, result.trusted):
                        trusted.record_reference(name, plans[name], seed, observed)
                else:
                    plans[name].problem = (f"the reference solution of '{name}' could not be graded for the "
                                           f"trusted check: {result.error}")
                progress.reference(name, result.status is Status.GRADED)
                return
            for item in context.group:
                results[id(item)] = result
                progress.advance(_row(item, specs, result, plans, due))
            outcome.graded_now += len(context.group)

        try:
            pool.run(queue, finished)
        finally:
            progress.finish()  # a live display gives the terminal back, whatever happened
    finally:
        pool.close()
    return results


def _sha(item: Candidate) -> str:
    """The hash of a gradable candidate's notebook."""
    assert item.submission.sha256 is not None
    return item.submission.sha256


def _name(item: Candidate) -> str:
    """The assignment of a gradable candidate."""
    assert item.assignment is not None
    return item.assignment


def _cached(path: Path) -> Result | None:
    """A result graded by an earlier run, if there is one that can be read."""
    try:
        return Result.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):  # missing, or unreadable: graded (again) and written anew
        return None


def _state_dir(course: Course, out: Path) -> Path:
    """The grader's private state (template gradebooks, the trusted check's secret and reference values):
    the course's .grading/ (shared by every --out; git ignores it), else --out's .cache/."""
    shared = course.root / ".grading"
    try:
        shared.mkdir(mode=0o700, parents=True, exist_ok=True)
        return shared
    except OSError:
        return out / ".cache"


def _template_cache(course: Course, out: Path) -> Path:
    return _state_dir(course, out) / "templates"


def _result(job: Job, reply: dict, out: Path) -> Result:
    """Turn a worker's reply to a job into a result; cache it when a submission was graded."""
    from . import jobs, results

    context: JobContext = job.context
    executed = jobs.autograded_notebook(job.workdir, context.spec)
    if reply.get("ok") and executed.exists():
        try:
            tests, note, observed = results.collect(job.workdir, context.spec, context.nonces)
        except Exception as error:  # a gradebook nbgrader left incomplete: report, keep the folder
            return Result.failed(f"nbgrader's results could not be read ({error})")
        # nbgrader's verdicts and, as plain data, what the trusted check's probes printed (scored in _row)
        reference = context.kind is JobKind.REFERENCE
        result = Result(Status.GRADED, tuple(tests), note, reply.get("seconds"),
                        observed if reference else (observed or [{}])[0])
        if not reference:
            atomic_write(out / "results" / f"{context.key}.ipynb", executed.read_bytes())
            atomic_write(out / "results" / f"{context.key}.json",
                         json.dumps(result.to_json(), indent=1, ensure_ascii=False))
        shutil.rmtree(job.workdir, ignore_errors=True)
        return result
    reason = reply.get("error") or "nbgrader wrote no graded notebook"
    return Result.failed(f"{reason}. The job folder {job.workdir} and the worker logs in {job.workdir.parent / 'logs'} "
                         "have the details; run `grade` again to retry.")


def _row(item: Candidate, specs: dict[str, AssignmentSpec], result: Result | None,
         plans: dict[str, trusted.Plan], due: dict[str, late.Policy] | None = None) -> Row:
    submission = item.submission
    spec = specs.get(item.assignment) if item.assignment else None
    row = Row(student=submission.student, assignment=item.assignment, source=submission.source,
              sha256=submission.sha256, status=Status.REJECTED, score=None,
              max_score=spec.max_score if spec else None, lms=submission.lms, student_name=submission.student_name,
              chosen=not item.problem, order=submission.order, submitted=submission.arrived,
              lms_submission=submission.lms_submission)
    if item.problem:
        return replace(row, error=f"'{submission.name}' {item.problem}")
    current = plans.get(item.assignment) if item.assignment else None
    if item.failure:
        result = Result.failed(item.failure)
    elif current is not None and current.problem and current.expected_for(_sha(item)) is None:
        result = Result.failed(current.problem)
    assert result is not None, "a valid submission without a result"
    if result.status is not Status.GRADED:
        return replace(row, status=result.status,
                       error=f"'{submission.name}' could not be graded: {result.error}")
    tests, flags = result.tests, ()
    if current is not None:
        tests, flags = trusted.apply(_name(item), result.tests, result.trusted, current, _sha(item))
    titles = {test.grade_id: test.title for test in spec.tests} if spec else {}
    tests = [replace(test, title=titles.get(test.name, test.name)) for test in tests]
    row = replace(row, status=Status.GRADED, tests=tuple(tests), flags=tuple(flags), error=result.error,
                  late=late.assess((due or {}).get(item.assignment), submission))
    return replace(row, score=late.with_lateness(row.earned, row.late))


def _write_outputs(outcome: Outcome, specs: dict[str, AssignmentSpec], course: Course, db_url: str,
                   settings: Settings, csv_bom: bool) -> None:
    from . import export, feedback, gradebook, report

    out = outcome.out
    gradebook.record(db_url, outcome.rows, out / ".work" / "scratch", specs, course.config_file)
    export.write_json(outcome.rows, out / "grades.json")
    export.write_csv(outcome.rows, {name: spec.max_score for name, spec in specs.items()}, out / "grades.csv",
                     canvas_ids=settings.canvas_ids, bom=csv_bom)
    # one page per student and assignment: the chosen submission, else the latest rejected file
    shown = latest(outcome.rows, group=lambda row: (row.student, row.assignment),
                   order=lambda row: (row.chosen, row.order))
    links = {name: course.task_links(spec) for name, spec in specs.items()}
    rendered = feedback.pages(list(shown.values()), links)
    outcome.feedback = feedback.write(rendered, out / "feedback")
    feedback.canvas_bundles(rendered, out / feedback.CANVAS)
    try:
        report.write(outcome.rows, outcome.similar, out)
    except Exception as error:  # grades and feedback are written: the report must not fail the run
        outcome.notes.append(f"the class report could not be written ({type(error).__name__}: {error}); grades "
                             "and feedback are complete. Please report this.")
