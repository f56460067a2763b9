"""Keras Deep Dive autograder: intake -> grading -> feedback -> export, on top of nbgrader."""
