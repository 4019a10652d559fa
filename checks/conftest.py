"""Fixtures every check uses: a harness wired to a fresh stand-in API, calling student code here or in a worker."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Iterator

import pytest

from checks.engine import sandbox
from checks.engine.executor import Executor
from checks.engine.harness import Harness
from checks.engine.official import Remote
from checks.engine.probe import Probe
from checks.engine.stubs import FakeAPI
from checks.fakeapi import BackgroundServer
from checks.plugin import check_deadline, fresh_module, guard_key, hung_key, official, project_path_key, remote_project

DEFAULT_BASE_URL = "https://jsonplaceholder.typicode.com"


@pytest.fixture(scope="session")
def project_path(pytestconfig: pytest.Config) -> Path:
    return Path(pytestconfig.stash[project_path_key])


@pytest.fixture
def live(request: pytest.FixtureRequest, pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """A harness wired to the loopback stand-in over real TCP (no stubs), for what only sockets show."""
    path, hung, pool = Path(pytestconfig.stash[project_path_key]), pytestconfig.stash[hung_key], official(pytestconfig)
    if pool is not None:
        deadline, limit = check_deadline(request.node)
        original = remote_project(pytestconfig, deadline)
        pool.ensure_started()
        # Served into the sandbox's own network: only the worker can reach it.
        with BackgroundServer(sock=sandbox.listening_socket(pool.netns_pid)) as api:
            remote = Remote(pool, api, api.base_url, stubbed=False, deadline=deadline, limit=limit)
            try:
                yield Harness(remote, path, api, original, hung)
            finally:
                pool.grader.run(remote.close())
        return
    project = fresh_module(pytestconfig)
    guard = pytestconfig.stash[guard_key]
    original_base_url = getattr(project, "BASE_URL", DEFAULT_BASE_URL)
    with BackgroundServer() as api:
        monkeypatch.setattr(project, "BASE_URL", api.base_url, raising=False)
        guard.probe = api.probe
        try:
            with api.probe.track_sessions():
                yield Harness(Executor(project, path, api.probe), path, api, str(original_base_url), hung)
        finally:
            guard.probe = None


@pytest.fixture
def harness(request: pytest.FixtureRequest, pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """A fresh probe and stand-in per check: aioresponses never forgets a request it has seen."""
    api = FakeAPI(Probe())
    path, hung, pool = Path(pytestconfig.stash[project_path_key]), pytestconfig.stash[hung_key], official(pytestconfig)
    if pool is not None:
        deadline, limit = check_deadline(request.node)
        original = remote_project(pytestconfig, deadline)
        remote = Remote(pool, api, api.base, stubbed=True, deadline=deadline, limit=limit)
        try:
            yield Harness(remote, path, api, original, hung)
        finally:
            pool.grader.run(remote.close())
        return
    project: ModuleType = fresh_module(pytestconfig)
    original_base_url = getattr(project, "BASE_URL", DEFAULT_BASE_URL)
    grader = Harness(Executor(project, path, api.probe), path, api, str(original_base_url), hung)
    monkeypatch.setattr(project, "BASE_URL", api.base, raising=False)
    guard = pytestconfig.stash[guard_key]
    guard.probe = api.probe
    try:
        with api.serve():
            yield grader
    finally:
        guard.probe = None
