"""How ``layerwise serve`` runs uvicorn: the names the Host header may give, and connection
limits uvicorn does not set by default.

Uvicorn times out idle keep-alive connections, but not a request head or body that never
completes: a client sending a header line (or a body byte) every few seconds holds its
connection, a slot of ``limit_concurrency`` and, while a body is awaited, a prediction slot, for
ever; and with httptools a head may grow without bound. The protocol here gives each request
head ``HEAD_TIMEOUT_S`` to arrive and at most ``MAX_HEAD_BYTES`` (431), and a body that did not
come with its head ``BODY_TIMEOUT_S`` to complete; a late one gets 408 and the connection is
closed. Timers are armed only per connection and response and for bodies still due, never in
the app per request.

>>> allowed_hosts("127.0.0.1", [])
('localhost', '127.0.0.1', '[::1]')
>>> allowed_hosts("0.0.0.0", [])
('*',)
"""

from __future__ import annotations

import ipaddress
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from layerwise.serve.guard import ANY_HOST, LOOPBACK_HOSTS

HEAD_TIMEOUT_S = 10.0  # for a request line and headers to arrive, from the connection or the
MAX_HEAD_BYTES = 64 * 1024  # last response; what a head may hold (browsers send under 8 KB)
BODY_TIMEOUT_S = 30.0  # for a request body to complete once its head has arrived
KEEP_ALIVE_S = 5  # an idle keep-alive connection is closed after this
MAX_CONNECTIONS = 512  # connections (or requests in progress) past which uvicorn answers 503
ALL_INTERFACES = ("0.0.0.0", "::", "")


def allowed_hosts(host: str, extra: list[str]) -> tuple[str, ...]:
    """The Host names a server bound to ``host`` answers to: ``host`` itself (the loopback
    names too when it is a loopback address) and ``extra`` (``--allowed-host``). Bound to every
    interface (0.0.0.0, ::) with no ``extra``, any name: the server cannot know the names it
    is reached by, and on every interface it is reachable directly anyway (the Host check
    guards a loopback server from pages that rebind their DNS name to 127.0.0.1); give
    ``--allowed-host`` to check them there too."""
    extra = [h.strip().lower() for h in extra if h.strip()]
    if ANY_HOST in extra:
        return (ANY_HOST,)
    if host in ALL_INTERFACES:
        return (*LOOPBACK_HOSTS, *extra) if extra else (ANY_HOST,)
    own = f"[{host}]" if ":" in host and not host.startswith("[") else host.lower()
    names = [*LOOPBACK_HOSTS, own] if _loopback(host) else [own]
    return tuple(dict.fromkeys([*names, *extra]))


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class HeadLimits:
    """Deadlines for each request head and body, and a size limit for heads (see the module
    doc), mixed into one of uvicorn's HTTP protocols: both keep the request in progress as
    ``cycle`` (``more_body`` while its body is due) and call ``on_response_complete`` when its
    answer is sent."""

    head_timeout_s = HEAD_TIMEOUT_S
    max_head_bytes = MAX_HEAD_BYTES
    body_timeout_s = BODY_TIMEOUT_S

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._head_timer = self._body_timer = self._body_of = None
        self._watch(None)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._watch(self.cycle)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle, watched = self.cycle, self._watched
        if cycle is not watched:  # a new request: its body came whole, or it is due
            if cycle.more_body and cycle is not self._body_of and not cycle.response_complete:
                self._body_of = cycle
                self._body_timer = self.loop.call_later(self.body_timeout_s, self._body_late, cycle)
        # no request head completed since the last response, and that request's body is
        # complete: these bytes are (part of) a new head
        elif watched is None or not watched.more_body:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes and not self.transport.is_closing():
                self._refuse(431, "The request line and headers are over "
                             f"{self.max_head_bytes:,} bytes.")  # fmt: skip

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def _body_late(self, cycle: Any) -> None:
        self._body_timer = None
        if cycle.more_body and not cycle.response_complete and not self.transport.is_closing():
            # the app waits on the body: it sees the connection drop and answers nobody
            self._refuse(408, f"The request body did not arrive within {self.body_timeout_s:g} s.")

    def _watch(self, cycle: Any) -> None:
        """A new request head is due: within the timeout, or the connection is closed."""
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._watched, self._head_bytes = cycle, 0
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_late, cycle)

    def _head_late(self, cycle: Any) -> None:
        self._head_timer = None
        waiting = cycle is None or cycle.response_complete
        if self.cycle is cycle and waiting and not self.transport.is_closing():
            if self._head_bytes:  # a head began and stalled: say why; an idle one just closes
                self._refuse(408, f"The request head did not arrive within "
                             f"{self.head_timeout_s:g} s.")  # fmt: skip
            else:
                self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        import json

        body = json.dumps({"error": message}).encode()
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                             % (status, reason, len(body), body))  # fmt: skip
        self.transport.close()


class GuardedProtocol(HeadLimits, AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """Uvicorn's HTTP protocol (httptools, or h11 without it) with :class:`HeadLimits`."""


def run(app_factory: str, host: str, port: int, workers: int) -> None:
    """Uvicorn serving ``app_factory`` (an import string) with the limits above."""
    import uvicorn

    uvicorn.run(app_factory, factory=True, host=host, port=port, workers=workers,
                log_level="warning", http=GuardedProtocol, timeout_keep_alive=KEEP_ALIVE_S,
                limit_concurrency=MAX_CONNECTIONS,
                h11_max_incomplete_event_size=MAX_HEAD_BYTES)  # fmt: skip
