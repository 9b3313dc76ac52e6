"""A lean HTTP/1.1 load generator for the serving benchmark: keep-alive connections on raw
asyncio streams, one prepared request sent over and over.

Why not httpx: on a 2-core machine the load generator shares the CPU with the server, and
httpx spends about 1 ms of Python per request building and parsing messages. That time is taken
from the server being measured. Here a request is bytes prepared once, and a response is read
by its status line and Content-Length, like wrk or hey would.

>>> request = prepare("127.0.0.1:8000", "/predict", json_body={"rows": [{"a": 1}]})
>>> request.split(b"\\r\\n")[0]
b'POST /predict HTTP/1.1'
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid


def prepare(host: str, path: str, json_body: dict | None = None,
            file: tuple[str, bytes, str] | None = None, token: str | None = None) -> bytes:  # fmt: skip
    """The bytes of one POST: a JSON body, or a multipart upload of ``(name, bytes, type)``."""
    if file is not None:
        boundary = uuid.uuid4().hex
        name, data, kind = file
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"{name}\"\r\nContent-Type: {kind}\r\n\r\n").encode() + data + (
                f"\r\n--{boundary}--\r\n").encode()  # fmt: skip
        content_type = f"multipart/form-data; boundary={boundary}"
    else:
        body = json.dumps(json_body).encode()
        content_type = "application/json"
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}"]  # fmt: skip
    if token:
        head.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    request: bytes) -> tuple[int, bool]:  # fmt: skip
    """Send one request, read its response; (status, whether the server keeps the connection)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, keep = 0, True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    if length:
        await reader.readexactly(length)
    return status, keep


async def load(host: str, port: int, request: bytes, clients: int, total: int,
               timeout_s: float = 30.0) -> dict:  # fmt: skip
    """``total`` requests from ``clients`` keep-alive connections, each sending its next request
    when the last is answered: requests/s, p50/p99 latency (ms) and counts by status (a failed
    connection counts under its exception's name)."""
    latencies: list[float] = []
    statuses: dict = {}
    remaining = total

    async def client() -> None:
        nonlocal remaining
        connection = None
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            try:
                if connection is None:
                    connection = await asyncio.open_connection(host, port)
                status, keep = await asyncio.wait_for(_exchange(*connection, request), timeout_s)
                if not keep:
                    connection[1].close()
                    connection = None
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
                status = type(exc).__name__
                if connection is not None:
                    connection[1].close()
                connection = None
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
        if connection is not None:
            connection[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {"rps": len(ordered) / wall, "p50": ordered[len(ordered) // 2] * 1e3,
            "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3,
            "statuses": statuses, "wall": wall}  # fmt: skip
