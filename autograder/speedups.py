"""Start-up speed: two slow steps of nbgrader's set-up that grading can do faster, with the same result.

1. jsonschema (imported by nbformat) builds an Earley parser for RFC 3987 IRIs when the optional
   package `rfc3987_syntax` is installed, which takes seconds on a small machine. Notebook validation
   never checks IRI formats, so grading processes tell Python that the package is absent.
2. When nbgrader creates a gradebook it asks for the database schema version by running the
   `alembic heads` command in a subprocess (several seconds, and it must be on PATH). The same
   answer comes from reading nbgrader's migration scripts in this process.
"""

import sys


def apply() -> None:
    """Call before importing nbformat or nbgrader."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def _alembic_head() -> str:
    from alembic.script import ScriptDirectory
    from nbgrader import dbutil

    return ScriptDirectory(dbutil.ALEMBIC_DIR).get_current_head()


def fast_gradebook_creation() -> None:
    """Make nbgrader read its schema version in-process when it creates a gradebook."""
    import nbgrader.api

    nbgrader.api.get_alembic_version = _alembic_head
