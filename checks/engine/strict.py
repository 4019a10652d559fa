"""Makes the stand-ins refuse what the real libraries refuse, by running their own checks up to the network.

`responses` replaces `requests.adapters.HTTPAdapter.send` and `aioresponses` replaces
`aiohttp.ClientSession._request`, so every argument check those two make before connecting is
skipped under the stubs: `requests.get(url, timeout=0)` is answered although `requests` refuses
it. Rather than copy the libraries' rules, each stubbed request is first put through the real
function, which stops at the point where it would open a connection. An argument the real call
refuses raises the real library's own exception, with its own message, from the student's call;
a request it accepts goes on to the stand-in as before.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import requests
from aiohttp.helpers import ceil_timeout
from requests.adapters import HTTPAdapter
from urllib3.util.request import body_to_chunks

# Taken before any stub is switched on: both stubs replace these very attributes while they run.
_REAL_SEND = HTTPAdapter.send
_REAL_REQUEST = aiohttp.ClientSession._request
if (_REAL_SEND.__module__, _REAL_REQUEST.__module__) != ("requests.adapters", "aiohttp.client"):
    raise ImportError("checks.engine.strict was imported while a stub was on: it needs the real send() and _request()")


class _Unsent(Exception):
    """Raised where the real call would connect: every check before that point accepted the request."""


# --- requests -------------------------------------------------------------------------------


class _Pool:
    """Stands where urllib3's connection pool would: takes what requests sets on it, and sends nothing."""

    def urlopen(self, method: str, url: str, body: Any = None, **_: Any) -> Any:
        # urllib3.connection.HTTPConnection.request turns the body into chunks before it connects,
        # and refuses one it cannot send (TypeError); 16384 is its default block size.
        body_to_chunks(body, method=method, blocksize=16384)
        raise _Unsent


class _Preflight(HTTPAdapter):
    """requests' own HTTPAdapter.send, connection pool and all, except that the pool never connects."""

    send = _REAL_SEND

    def get_connection_with_tls_context(self, request: Any, verify: Any, proxies: Any = None, cert: Any = None) -> Any:
        super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)  # InvalidURL, InvalidProxyURL
        return _Pool()


_PREFLIGHT = _Preflight()


def refuse_requests(request: requests.PreparedRequest) -> None:
    """Raise what `HTTPAdapter.send` would raise for this request before connecting; return if it would connect.

    `responses` hands its callback the prepared request, with the keywords `send` was called with
    (timeout, verify, cert, proxies, stream) kept in `req_kwargs`. Everything before `send` (URL,
    params, headers, the adapter for the scheme) already runs for real under `responses`.
    """
    try:
        _PREFLIGHT.send(request, **request.req_kwargs)
    except _Unsent:
        return


# --- aiohttp --------------------------------------------------------------------------------


async def refuse_aiohttp(session: aiohttp.ClientSession, method: str, url: Any, **kwargs: Any) -> None:
    """Raise what `ClientSession._request` would raise for this request before connecting; return if it would connect.

    The real `_request` runs with the keywords the student gave, and a client middleware of ours
    in place of the connector, so it builds the URL, the headers, the body and the ClientRequest
    and starts its timers as it would, then stops. Two keywords are replaced: `middlewares`, as the
    stop must be the only one (the student's never run under the stubs anyway), and
    `upload_tracker`, which may be bound to one request only. A session's TraceConfig hears this
    run: its request start, then a request exception that is this module's `_Unsent`.
    """
    timeout = kwargs.get("timeout", session.timeout)  # as in _request: no timeout means the session's
    if not isinstance(timeout, aiohttp.ClientTimeout):
        timeout = None  # a bare number (or None) is only a total, which _request checks itself
    try:
        await _REAL_REQUEST(
            session, method, url, **{**kwargs, "middlewares": (_stop_before_connecting(timeout),), "upload_tracker": None}
        )
    except _Unsent:
        return


def _stop_before_connecting(timeout: aiohttp.ClientTimeout | None) -> Any:
    async def stop(request: Any, handler: Any) -> Any:
        # The first timers a connection makes (BaseConnector.connect, then TCPConnector's
        # _wrap_create_connection), through aiohttp's own helper, which refuses a delay that is not
        # a number as it makes the timer; no timer is started, as nothing here will wait.
        if timeout is not None:
            for delay in (timeout.connect, timeout.sock_connect):
                ceil_timeout(delay, timeout.ceil_threshold)
        raise _Unsent

    return stop
