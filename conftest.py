"""Loads the grader's pytest plugin for every run started from the project's root."""

pytest_plugins = ["checks.plugin"]
