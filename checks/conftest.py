"""Fixtures every check uses: a harness wired to a fresh stand-in API, calling student code here or in a worker."""

from __future__ import annotations

import secrets
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pytest

from checks.engine import sandbox
from checks.engine.executor import Executor
from checks.engine.explore import Explorer
from checks.engine.harness import Harness
from checks.engine.official import Remote
from checks.engine.probe import Probe
from checks.engine.stubs import STUB_BASE, FakeAPI
from checks.fakeapi import BackgroundServer
from checks.plugin import check_deadline, fresh_module, graded_module, guard_key, hung_key, official, project_path_key, remote_project

DEFAULT_BASE_URL = "https://jsonplaceholder.typicode.com"


@pytest.fixture(scope="session")
def project_path(pytestconfig: pytest.Config) -> Path:
    return Path(pytestconfig.stash[project_path_key])


@pytest.fixture
def live(request: pytest.FixtureRequest, pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """A harness wired to the loopback stand-in over real TCP (no stubs), for what only sockets show."""
    path, hung, pool = Path(pytestconfig.stash[project_path_key]), pytestconfig.stash[hung_key], official(pytestconfig)
    if pool is not None:
        pool.ensure_started()
        # Served into the sandbox's own network: only the worker can reach it.
        with BackgroundServer(sock=sandbox.listening_socket(pool.netns_pid), salt=secrets.token_hex(4)) as api:
            yield from _official_harness(request, pytestconfig, api, api.base_url, stubbed=False)
        return
    project = fresh_module(pytestconfig)
    guard = pytestconfig.stash[guard_key]
    original_base_url = getattr(project, "BASE_URL", DEFAULT_BASE_URL)
    with BackgroundServer(salt=secrets.token_hex(4)) as api:
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
        yield from _official_harness(request, pytestconfig, api, api.base, stubbed=True)
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


def _official_harness(
    request: pytest.FixtureRequest, config: pytest.Config, api: Any, base: str, stubbed: bool
) -> Iterator[Harness]:
    """A harness whose calls go to a fresh worker process; the process ends with the check."""
    pool = official(config)
    assert pool is not None
    deadline, limit = check_deadline(request.node)
    original = remote_project(config, deadline)
    remote = Remote(pool, api, base, stubbed=stubbed, deadline=deadline, limit=limit)
    try:
        yield Harness(remote, Path(config.stash[project_path_key]), api, original, config.stash[hung_key])
    finally:
        pool.grader.run(remote.close())


@pytest.fixture
def explorer(request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> Iterator[Explorer]:
    """Scenarios for one check, each on a fresh import of the graded file, here or in official grading's worker."""
    pool, api = official(pytestconfig), FakeAPI(Probe())
    if pool is None:
        graded_module(pytestconfig)  # a file that does not import is an error of the check's setup, as elsewhere
        guard = pytestconfig.stash[guard_key]
        guard.probe = api.probe
        try:
            with api.serve():  # once per check: switching the stubs on costs more than a scenario
                yield Explorer(partial(_local_trial, pytestconfig), api)
        finally:
            guard.probe = None
        return
    deadline, limit = check_deadline(request.node)
    remote_project(pytestconfig, deadline)  # a file that does not import is reported as such, once
    remote = Remote(pool, api, STUB_BASE, stubbed=True, deadline=deadline, limit=limit)
    try:
        yield Explorer(partial(_remote_trial, remote, pytestconfig), api)
    finally:
        pool.grader.run(remote.close())


@contextmanager
def _local_trial(config: pytest.Config, api: FakeAPI) -> Iterator[Harness]:
    path = Path(config.stash[project_path_key])
    project = fresh_module(config)
    project.BASE_URL = api.base
    yield Harness(Executor(project, path, api.probe), path, api, STUB_BASE, config.stash[hung_key])


@contextmanager
def _remote_trial(remote: Remote, config: pytest.Config, api: FakeAPI) -> Iterator[Harness]:
    remote.pool.grader.run(remote.renew(api))
    yield Harness(remote, Path(config.stash[project_path_key]), api, STUB_BASE, config.stash[hung_key])
