"""Tests of the autograder (autograder/): the grading pipeline, black-box attacks, hostile input."""
