"""What crosses between the grader and a worker running student code: framed JSON, and values rebuilt safely.

The worker is hostile ground, so nothing it sends is unpickled or evaluated. A frame is a length and
UTF-8 JSON, capped in size; values are tagged JSON that the grader turns back into plain data, into
exceptions of types it already knows (so `isinstance(slot, TimeoutError)` still means something),
or into an `Opaque` stand-in that only remembers its repr. A worker can lie in what it sends, but it
can only describe values; it cannot make the grader run anything.
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import inspect
import json
import socket
import struct
from typing import Any

import aiohttp
import requests

MAX_FRAME = 8 * 1024 * 1024
"""Bytes one message may take: far more than any honest result, small enough to keep the grader safe."""
MAX_DEPTH = 6
MAX_ITEMS = 10_000
MAX_TEXT = 1_000_000
REPR_CAP = 300

_HEADER = struct.Struct("!I")


class ProtocolError(Exception):
    """The worker sent something that is not a well-formed message (too big, not JSON, wrong shape)."""


# --- frames ----------------------------------------------------------------------------------


def pack(message: dict) -> bytes:
    data = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return _HEADER.pack(len(data)) + data


def unpack(data: bytes) -> dict:
    try:
        message = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ProtocolError(f"not a JSON message ({type(error).__name__})") from None
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ProtocolError("a message without an 'op'")
    return message


def send(sock: socket.socket, message: dict) -> None:
    sock.sendall(pack(message))


def receive(sock: socket.socket) -> dict | None:
    """The next message, or None when the other side has closed the channel."""
    header = _read_exactly(sock, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ProtocolError(f"a message of {size} bytes, more than the {MAX_FRAME} allowed")
    body = _read_exactly(sock, size)
    if body is None:
        return None
    return unpack(body)


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


async def receive_async(reader: asyncio.StreamReader) -> dict | None:
    try:
        header = await reader.readexactly(_HEADER.size)
        (size,) = _HEADER.unpack(header)
        if size > MAX_FRAME:
            raise ProtocolError(f"a message of {size} bytes, more than the {MAX_FRAME} allowed")
        return unpack(await reader.readexactly(size))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


# --- values, worker side ---------------------------------------------------------------------


def encode(value: Any, depth: int = MAX_DEPTH, where: Any = None) -> Any:
    """`value` as tagged JSON. `where(error)` names the student's line an exception came from."""
    if value is None or isinstance(value, (bool, int, float)):
        return value if not isinstance(value, int) or abs(value) < 2**63 else _opaque(value)
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else {"t": "opaque", "type": "str", "repr": repr(value[:REPR_CAP]) + "..."}
    if isinstance(value, BaseException):
        return _encode_error(value, where)
    if inspect.isawaitable(value):
        return {"t": "awaitable", "desc": unawaited(value)}
    if depth <= 0:
        return _opaque(value)
    if type(value) in (list, tuple):
        items = [encode(v, depth - 1, where) for v in value[:MAX_ITEMS]]
        return {"t": type(value).__name__, "v": items, "more": max(0, len(value) - MAX_ITEMS)}
    if type(value) is dict:
        pairs = [[encode(k, depth - 1, where), encode(v, depth - 1, where)] for k, v in list(value.items())[:MAX_ITEMS]]
        return {"t": "dict", "v": pairs}
    if type(value) is range:
        return {"t": "range", "v": [value.start, value.stop, value.step]}
    return _opaque(value)


def _opaque(value: Any) -> dict:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a student's __repr__ may raise anything
        text = f"<{type(value).__name__}>"
    return {"t": "opaque", "type": type(value).__name__, "repr": text[:REPR_CAP]}


def _encode_error(error: BaseException, where: Any) -> dict:
    try:
        text = str(error)
    except Exception:  # noqa: BLE001 - a student's __str__ may raise anything
        text = ""
    try:
        status = getattr(error, "status", None)
        if status is None:  # requests' HTTPError keeps it on its response
            status = getattr(getattr(error, "response", None), "status_code", None)
    except Exception:  # noqa: BLE001 - a student's property may raise anything
        status = None
    return {
        "t": "exc",
        "types": [f"{c.__module__}.{c.__qualname__}" for c in type(error).__mro__],
        "name": type(error).__name__,
        "text": text[:2000],
        "repr": _opaque(error)["repr"],
        "status": status if isinstance(status, int) and not isinstance(status, bool) else None,
        "code": _exit_code(error),
        "where": where(error) if where else None,
    }


def _exit_code(error: BaseException) -> Any:
    code = getattr(error, "code", None) if isinstance(error, SystemExit) else None
    return code if code is None or isinstance(code, (int, str)) else repr(code)[:REPR_CAP]


def unawaited(value: Any) -> str:
    """What a student handed back instead of awaiting it, named as they wrote it."""
    if inspect.iscoroutine(value):
        return f"the coroutine {value.__qualname__}()"
    if isinstance(value, asyncio.Task):
        return f"a Task running {value.get_coro().__qualname__}()"  # type: ignore[union-attr]
    if isinstance(value, asyncio.Future):
        return "a Future (asyncio.gather(...) returns one)"
    return f"an awaitable {type(value).__name__}"


# --- values, grader side ---------------------------------------------------------------------


class Opaque:
    """A value the grader does not rebuild: it equals nothing and shows the repr the worker gave."""

    def __init__(self, type_name: str, text: str, awaitable: str | None = None) -> None:
        self.type_name, self.text, self.awaitable = type_name, text, awaitable

    def __repr__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__


def _known_errors() -> dict[str, type[BaseException]]:
    """Exception types the grader may rebuild, by qualified name: Python's, asyncio's, aiohttp's, requests'."""
    known: dict[str, type[BaseException]] = {}
    for module in (builtins, asyncio, aiohttp, requests.exceptions, concurrent.futures):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseException):
                known[f"{value.__module__}.{value.__qualname__}"] = value
    return known


KNOWN_ERRORS = _known_errors()


def decode(value: Any, depth: int = MAX_DEPTH + 1) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth <= 0 or not isinstance(value, dict):
        raise ProtocolError("a value nested too deeply or of an unknown shape")
    tag = value.get("t")
    if tag in ("list", "tuple"):
        items = [decode(v, depth - 1) for v in _list(value.get("v"))]
        if value.get("more"):
            items.append(Opaque("more", f"... {int(value['more'])} more"))
        return items if tag == "list" else tuple(items)
    if tag == "dict":
        pairs = [(decode(k, depth - 1), decode(v, depth - 1)) for k, v in (_pair(p) for p in _list(value.get("v")))]
        try:
            return dict(pairs)
        except TypeError:
            return Opaque("dict", repr(pairs)[:REPR_CAP])
    if tag == "exc":
        return rebuild_error(value)
    if tag == "range":
        bounds = _list(value.get("v"))
        if len(bounds) == 3 and all(type(b) is int and abs(b) < 2**31 for b in bounds) and bounds[2]:
            return range(*bounds)
        raise ProtocolError("a range with bounds that are not small whole numbers")
    if tag == "awaitable":
        return Opaque("awaitable", f"<{_text(value.get('desc'))}>", awaitable=_text(value.get("desc")))
    if tag == "opaque":
        return Opaque(_text(value.get("type")), _text(value.get("repr")))
    raise ProtocolError(f"a value tagged {tag!r}")


def rebuild_error(data: dict) -> BaseException:
    """An exception of the first type in the worker's class chain that the grader knows, showing the worker's text.

    The rebuilt class is named like the student's, so messages read as they would in-process; it
    subclasses only a trusted type, so `isinstance` answers for that type and nothing else.
    """
    types = [t for t in _list(data.get("types")) if isinstance(t, str)]
    base = next((KNOWN_ERRORS[t] for t in types if t in KNOWN_ERRORS), Exception)
    name, text, shown = _text(data.get("name")) or base.__name__, _text(data.get("text")), _text(data.get("repr"))
    if not name.isidentifier():
        name = base.__name__
    kind = type(name, (base,), {"__str__": lambda self: text, "__repr__": lambda self: shown, "__module__": "student"})
    error = kind.__new__(kind)
    error.args = (text,) if text else ()
    status = data.get("status")
    for attribute, default in (("status", status if isinstance(status, int) else None), ("message", text),
                               ("request_info", None), ("history", ()), ("headers", None), ("response", None),
                               ("request", None)):
        try:
            object.__setattr__(error, attribute, default)
        except (AttributeError, TypeError):
            pass
    if issubclass(base, SystemExit) and isinstance(data.get("code"), (int, str)):
        error.code = data["code"]
    error.where = _text(data.get("where")) or None  # type: ignore[attr-defined]
    return error


def _list(value: Any) -> list:
    if not isinstance(value, list):
        raise ProtocolError("a list expected")
    return value


def _pair(value: Any) -> tuple[Any, Any]:
    if not (isinstance(value, list) and len(value) == 2):
        raise ProtocolError("a key-value pair expected")
    return value[0], value[1]


def _text(value: Any) -> str:
    return value[:MAX_TEXT] if isinstance(value, str) else ""
