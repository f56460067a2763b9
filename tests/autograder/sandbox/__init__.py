"""Tests of autograder/sandbox/: the bubblewrap sandbox, the uid-only tier, kernels forked from a template."""
