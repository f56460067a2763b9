"""Tests of the book: every chapter executed, the website built and opened, each notebook run alone as in Colab."""
