"""Fixtures of the live editor tests (the helpers live in liveharness.py)."""

from liveharness import latency, workspace  # noqa: F401  (pytest fixtures)
