"""File names a MovieLens download holds, read by the loader and recognised at start-up (no
imports here: cli.py, which the command reads before any task, uses it too)."""

MOVIELENS_FILES = ("u.data", "ratings.dat")
