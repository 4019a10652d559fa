"""Fixtures every check uses: the graded module and a harness wired to a fresh stand-in API."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Iterator

import pytest

from checks.fakeapi import BackgroundServer
from checks.engine.harness import Harness
from checks.plugin import graded_module, guard_key, hung_key, project_path_key
from checks.engine.probe import Probe
from checks.engine.stubs import FakeAPI


@pytest.fixture(scope="session")
def project(pytestconfig: pytest.Config) -> ModuleType:
    return graded_module(pytestconfig)


@pytest.fixture(scope="session")
def project_path(pytestconfig: pytest.Config) -> Path:
    return Path(pytestconfig.stash[project_path_key])


@pytest.fixture
def live(project: ModuleType, pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """A harness wired to the loopback stand-in over real TCP (no stubs), for what only sockets show."""
    guard = pytestconfig.stash[guard_key]
    original_base_url = getattr(project, "BASE_URL", "https://jsonplaceholder.typicode.com")
    with BackgroundServer() as api:
        monkeypatch.setattr(project, "BASE_URL", api.base_url, raising=False)
        guard.probe = api.probe
        try:
            with api.probe.track_sessions():
                yield Harness(
                    project, Path(pytestconfig.stash[project_path_key]), api, str(original_base_url),
                    pytestconfig.stash[hung_key],
                )
        finally:
            guard.probe = None


@pytest.fixture
def harness(project: ModuleType, pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """A fresh probe and stand-in per check: aioresponses never forgets a request it has seen."""
    api = FakeAPI(Probe())
    original_base_url = getattr(project, "BASE_URL", "https://jsonplaceholder.typicode.com")
    grader = Harness(
        project, Path(pytestconfig.stash[project_path_key]), api, str(original_base_url), pytestconfig.stash[hung_key]
    )
    monkeypatch.setattr(project, "BASE_URL", api.base, raising=False)
    guard = pytestconfig.stash[guard_key]
    guard.probe = api.probe
    try:
        with api.serve():
            yield grader
    finally:
        guard.probe = None
