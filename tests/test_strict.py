"""The stand-ins refuse what the real libraries refuse: each argument is tried on the real library, then under the stubs.

The real call goes to a loopback port that nothing listens on, so an argument the library
accepts ends in a refused connection and one it refuses fails before any connection is tried.
Under the stubs (checks/engine/stubs.py) the same call must fail the same way, with the same
exception type and message; an accepted one must still be answered by the stand-in.
"""

from __future__ import annotations

import socket
import warnings
from typing import Any

import aiohttp
import pytest
import requests

from checks.engine.probe import Probe
from checks.engine.stubs import STUB_BASE, FakeAPI

STUB_HOST = STUB_BASE.removeprefix("http://")
URL = "{base}/posts/1"


@pytest.fixture(scope="module")
def nobody_listens() -> str:
    """http://127.0.0.1:PORT where PORT was free a moment ago: a connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(autouse=True)
def _quiet_deprecations():
    """aiohttp warns about verify_ssl, fingerprint and auth before it refuses them; the refusal is what is compared."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _same_words(error: BaseException, *hosts: str) -> str:
    """The message with the server's address taken out, so a real and a stubbed call compare."""
    words = str(error)
    for host in hosts:
        words = words.replace(host, "HOST")
    return words


def _compare(real: BaseException | None, stubbed: BaseException | None, real_base: str) -> None:
    assert real is not None and stubbed is not None, (real, stubbed)
    assert type(stubbed) is type(real), (real, stubbed)
    assert _same_words(stubbed, STUB_HOST) == _same_words(real, real_base.removeprefix("http://"), "127.0.0.1")


# --- requests -------------------------------------------------------------------------------

REQUESTS_REFUSES = [
    pytest.param(URL, {"timeout": 0}, id="timeout 0"),
    pytest.param(URL, {"timeout": -1}, id="negative timeout"),
    pytest.param(URL, {"timeout": "5"}, id="timeout as a string"),
    pytest.param(URL, {"timeout": True}, id="timeout True"),
    pytest.param(URL, {"timeout": [1, 2]}, id="timeout as a list"),
    pytest.param(URL, {"timeout": (1, 2, 3)}, id="timeout tuple of three"),
    pytest.param(URL, {"timeout": (0, 5)}, id="connect timeout 0 in a tuple"),
    pytest.param(URL, {"timeout": (5, -1)}, id="negative read timeout in a tuple"),
    pytest.param(URL, {"cert": "/nonexistent/client.pem"}, id="cert file missing"),
    pytest.param(URL, {"cert": ("/nonexistent/client.pem", "/nonexistent/key.pem")}, id="cert pair missing"),
    pytest.param(URL, {"proxies": {"http": "http://"}}, id="proxy without a host"),
    pytest.param(URL, {"data": object()}, id="body of no sendable type"),
    pytest.param("{host}/posts/1", {}, id="URL without a scheme"),
    pytest.param("ftp://{host}/posts/1", {}, id="ftp URL"),
    pytest.param("http://", {}, id="URL without a host"),
    pytest.param("http://{host}:99999/posts/1", {}, id="port out of range"),
    pytest.param(URL, {"params": 5}, id="params of no query type"),
    pytest.param(URL, {"headers": {"X-Id": 1}}, id="header value not a string"),
    pytest.param(URL, {"headers": {"X-Id": "a\nb"}}, id="newline in a header"),
]

REQUESTS_ACCEPTS = [
    pytest.param({"timeout": 10}, id="timeout 10"),
    pytest.param({"timeout": None}, id="no timeout"),
    pytest.param({"timeout": (3.05, 27)}, id="connect and read timeouts"),
    pytest.param({"timeout": (1, None)}, id="no read timeout"),
    pytest.param({"verify": "/nonexistent/ca.pem"}, id="missing CA bundle over http"),
    pytest.param({"verify": False}, id="verify off"),
    pytest.param({"allow_redirects": "no"}, id="allow_redirects of another type"),
    pytest.param({"data": "a", "json": {"b": 1}}, id="data and json together"),
    pytest.param({"params": {"a": 1.5}, "headers": {"X-Id": "1"}}, id="params and headers"),
]


def _requests_error(url: str, kwargs: dict[str, Any]) -> BaseException | None:
    try:
        requests.get(url, **kwargs)
    except Exception as error:  # noqa: BLE001  the exception is the result
        return error
    return None


@pytest.mark.parametrize(("url", "kwargs"), REQUESTS_REFUSES)
def test_requests_refuses_under_the_stubs_what_it_refuses_for_real(nobody_listens: str, url: str, kwargs: dict) -> None:
    real = _requests_error(url.format(base=nobody_listens, host="127.0.0.1"), kwargs)
    assert not isinstance(real, requests.ConnectionError), f"the real call got as far as connecting: {real!r}"
    api = FakeAPI(Probe())
    with api.serve():
        stubbed = _requests_error(url.format(base=STUB_BASE, host=STUB_HOST), kwargs)
    _compare(real, stubbed, nobody_listens)
    assert api.probe.spans == [], "a refused call must not reach the stand-in"


@pytest.mark.parametrize("kwargs", REQUESTS_ACCEPTS)
def test_requests_arguments_the_library_accepts_are_still_answered(nobody_listens: str, kwargs: dict) -> None:
    assert isinstance(_requests_error(f"{nobody_listens}/posts/1", kwargs), requests.ConnectionError)
    with FakeAPI(Probe()).serve():
        assert requests.get(f"{STUB_BASE}/posts/1", **kwargs).json()["id"] == 1


# --- aiohttp --------------------------------------------------------------------------------

AIOHTTP_REFUSES = [
    pytest.param(URL, {"timeout": "5"}, id="timeout as a string"),
    pytest.param(URL, {"timeout": (1, 2)}, id="timeout as a tuple"),
    pytest.param(URL, {"timeout": aiohttp.ClientTimeout(total="5")}, id="ClientTimeout total as a string"),
    pytest.param(URL, {"timeout": aiohttp.ClientTimeout(connect="5")}, id="ClientTimeout connect as a string"),
    pytest.param(URL, {"timeout": aiohttp.ClientTimeout(sock_connect="5")}, id="ClientTimeout sock_connect as a string"),
    pytest.param(URL, {"data": "a", "json": {"b": 1}}, id="data and json together"),
    pytest.param(URL, {"json": {"when": object()}}, id="json that cannot be serialised"),
    pytest.param(URL, {"ssl": "yes"}, id="ssl of another type"),
    pytest.param(URL, {"ssl": False, "verify_ssl": False}, id="ssl and verify_ssl together"),
    pytest.param(URL, {"fingerprint": b"abc"}, id="fingerprint of a wrong length"),
    pytest.param(URL, {"auth": ("user", "secret")}, id="auth as a plain tuple"),
    pytest.param(URL, {"params": 5}, id="params of no query type"),
    pytest.param(URL, {"params": {"a": None}}, id="None as a query value"),
    pytest.param("{host}/posts/1", {}, id="URL without a scheme"),
    pytest.param("ftp://{host}/posts/1", {}, id="ftp URL"),
    pytest.param("/posts/1", {}, id="relative URL without a base_url"),
    pytest.param("http://", {}, id="URL without a host"),
    pytest.param("http://{host}:99999/posts/1", {}, id="port out of range"),
]

AIOHTTP_ACCEPTS = [
    pytest.param({"timeout": 0}, id="timeout 0 means none"),
    pytest.param({"timeout": None}, id="no timeout"),
    pytest.param({"timeout": aiohttp.ClientTimeout(total=-1)}, id="negative total means none"),
    pytest.param({"timeout": aiohttp.ClientTimeout(total=10, connect=5, sock_connect=5)}, id="every connect timer set"),
    pytest.param({"ssl": False}, id="ssl off"),
    pytest.param({"params": {"a": 1.5}, "headers": {"X-Id": 1}}, id="a float param and an int header"),
    pytest.param({"allow_redirects": "no"}, id="allow_redirects of another type"),
    pytest.param({"data": b"x"}, id="a body on a GET"),
]


async def _aiohttp_error(url: str, kwargs: dict[str, Any], method: str = "GET", closed: bool = False) -> BaseException | None:
    try:
        async with aiohttp.ClientSession() as session:
            if closed:
                await session.close()
            async with session.request(method, url, **kwargs) as response:
                await response.read()
    except Exception as error:  # noqa: BLE001  the exception is the result
        return error
    return None


@pytest.mark.parametrize(("url", "kwargs"), AIOHTTP_REFUSES)
async def test_aiohttp_refuses_under_the_stubs_what_it_refuses_for_real(nobody_listens: str, url: str, kwargs: dict) -> None:
    real = await _aiohttp_error(url.format(base=nobody_listens, host="127.0.0.1"), kwargs)
    assert not isinstance(real, aiohttp.ClientConnectorError), f"the real call got as far as connecting: {real!r}"
    api = FakeAPI(Probe())
    with api.serve():
        stubbed = await _aiohttp_error(url.format(base=STUB_BASE, host=STUB_HOST), kwargs)
    _compare(real, stubbed, nobody_listens)
    assert api.probe.spans == [], "a refused request must not reach the stand-in"


@pytest.mark.parametrize(("method", "closed"), [("GE T", False), ("GET", True)], ids=["method with a space", "closed session"])
async def test_aiohttp_refuses_a_bad_method_and_a_closed_session_as_it_does_for_real(
    nobody_listens: str, method: str, closed: bool
) -> None:
    real = await _aiohttp_error(f"{nobody_listens}/posts/1", {}, method, closed)
    assert not isinstance(real, aiohttp.ClientConnectorError), real
    with FakeAPI(Probe()).serve():
        stubbed = await _aiohttp_error(f"{STUB_BASE}/posts/1", {}, method, closed)
    _compare(real, stubbed, nobody_listens)


@pytest.mark.parametrize("kwargs", AIOHTTP_ACCEPTS)
async def test_aiohttp_arguments_the_library_accepts_are_still_answered(nobody_listens: str, kwargs: dict) -> None:
    assert isinstance(await _aiohttp_error(f"{nobody_listens}/posts/1", kwargs), aiohttp.ClientConnectorError)
    with FakeAPI(Probe()).serve():
        async with aiohttp.ClientSession() as session, session.get(f"{STUB_BASE}/posts/1", **kwargs) as response:
            assert (await response.json())["id"] == 1


async def test_a_session_that_trusts_the_environment_is_still_answered() -> None:
    """trust_env makes aiohttp look up .netrc and proxies in threads before it connects: the check waits for them."""
    with FakeAPI(Probe()).serve():
        async with aiohttp.ClientSession(trust_env=True) as session, session.get(f"{STUB_BASE}/posts/2") as response:
            assert (await response.json())["id"] == 2
