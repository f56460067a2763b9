"""Tests of the graded exercises: one source each, student versions, the misconception catalogue graded."""
