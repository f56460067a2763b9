"""nbgrader configuration: this repository is the course folder.

solutions/<assignment>/ holds the nbgrader source notebooks and exercises/<assignment>/ the generated
student versions (regenerate them with `python -m autograder release`). Gradebooks and grading work
folders (gradebook.db, submitted/, autograded/, feedback/) never go into git: see .gitignore.
"""
import os

c = get_config()  # noqa: F821 -- nbgrader provides get_config() when it loads this file

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"

# A test cell that needs longer than this has a bug (each notebook runs in seconds).
c.Execute.timeout = 120
