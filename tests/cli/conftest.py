"""Fixtures for the CLI tests live in cli_support.py: a module named after the suite,
because every test directory's conftest is importable as plain `conftest`."""

from cli_support import *  # noqa: F403 - re-export fixtures for pytest
