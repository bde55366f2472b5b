"""`python -m locus.cli`, for clusters where the `locus` script is not on PATH."""

from locus.cli import app

app()
