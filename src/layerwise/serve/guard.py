"""The checks every request passes before a route sees it, as one plain ASGI middleware (cheaper
per request than Starlette's BaseHTTPMiddleware: refusals are most of the traffic when a server
is flooded, so refusing must cost a fraction of a routed request).

In order: the Host header must name this server (a page on another site that rebinds its own
DNS name to 127.0.0.1 reaches a loopback server with its own name in Host: 400); a body announced
over the limit is 413 before it is read; the bearer token (when set) is compared in constant
time (401; the page and /health stay open); a prediction past the load's capacity is 503 with
Retry-After. The body is then counted as it streams in, whatever the route does with it (JSON,
multipart, a future route): past the limit the route's read fails with 413 and nothing more of
it is kept. Every response gets nosniff and frame-denying headers.
"""

from __future__ import annotations

import hmac
from typing import Any

from layerwise.serve.inputs import Limits, RequestError

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
ANY_HOST = "*"
_SAFE_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                 (b"referrer-policy", b"no-referrer")]  # fmt: skip


class Load:
    """Predictions in progress (running or waiting for a thread), against what is let in."""

    def __init__(self, capacity: int):
        self.busy, self.capacity = 0, capacity


class Guard:
    """The middleware (see the module doc). ``hosts``: the names the Host header may give
    (without the port; ``"*"`` for any)."""

    OPEN = ("/health", "/")

    def __init__(self, app: Any, limits: Limits, token: str | None, load: Load,
                 hosts: tuple[str, ...] = LOOPBACK_HOSTS):  # fmt: skip
        self.app, self.limits, self.token, self.load = app, limits, token, load
        self.hosts = None if ANY_HOST in hosts else frozenset(h.lower() for h in hosts)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        size = headers.get(b"content-length")
        host = headers.get(b"host", b"")
        if self.hosts is not None and host_name(host) not in self.hosts:
            shown = host.decode("latin-1")[:100]
            refusal = _json(400, {"error": f"The Host header '{shown}' does not name this "
                                  "server; start it with --allowed-host NAME to answer to "
                                  "that name."})  # fmt: skip
        elif size is not None and (not size.isdigit() or int(size) > self.limits.max_body_bytes):
            refusal = _json(413, {"error": f"The request body is over "
                                  f"{self.limits.max_body_bytes:,} bytes."})  # fmt: skip
        elif (
            self.token is not None
            and scope["path"] not in self.OPEN
            and not _authorized(headers.get(b"authorization", b""), self.token)
        ):
            refusal = _json(401, {"error": "A valid bearer token is needed."},
                            {"WWW-Authenticate": "Bearer"})  # fmt: skip
        elif scope["path"] != "/predict":
            return await self.app(scope, self._counted(receive), _secured(send))
        elif self.load.busy >= self.load.capacity:  # overloaded: say so now, not after a queue
            refusal = _json(503, {"error": "The server is busy; try again shortly."},
                            {"Retry-After": "1"})  # fmt: skip
        else:
            self.load.busy += 1
            try:
                return await self.app(scope, self._counted(receive), _secured(send))
            finally:
                self.load.busy -= 1
        await refusal(scope, receive, _secured(send))

    def _counted(self, receive: Any) -> Any:
        return _Body(receive, self.limits.max_body_bytes)


class _Body:
    """``receive`` with the request body counted as it arrives: past ``max_body_bytes`` the read
    raises a :class:`RequestError` (413), so no route can hold more of a body than the limit,
    chunked uploads included. (A body that trickles in is cut by the server's protocol,
    :class:`layerwise.serve.server.HeadLimits`, which arms a timer only for such a body: a
    deadline here would cost every request a timer.)"""

    __slots__ = ("limit", "receive", "seen")

    def __init__(self, receive: Any, limit: int):
        self.receive, self.limit, self.seen = receive, limit, 0

    async def __call__(self) -> dict:
        message = await self.receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                raise RequestError(413, f"The request body is over {self.limit:,} bytes.")
        return message


def _secured(send: Any) -> Any:
    async def secured(message: dict) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *_SAFE_HEADERS]
        await send(message)

    return secured


def host_name(header: bytes) -> str:
    """The host of a Host header, lower case, without its port: ``[::1]:8000`` -> ``[::1]``.

    >>> host_name(b"LocalHost:8000"), host_name(b"[::1]:80"), host_name(b"example.org")
    ('localhost', '[::1]', 'example.org')
    """
    text = header.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[: text.find("]") + 1] if "]" in text else text
    return text.split(":", 1)[0]


def _authorized(header: bytes, token: str) -> bool:
    scheme, _, value = header.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(value, token.encode())


def _json(status: int, body: dict, headers: dict | None = None) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse(body, status_code=status, headers=headers)
