"""The HTTP server of a run folder: ``GET /health``, ``GET /info``, ``POST /predict``, the web
page at ``/``, the OpenAPI description at ``/openapi.json`` (and Swagger UI at ``/docs`` when
asked for: it loads its script from a CDN).

Routes hold no task logic: a request body becomes the inputs the task's ``predict`` takes
(:mod:`layerwise.serve.requests`), and the prediction frame goes back as JSON records. Concurrent
one-row requests are joined into one ``predict`` call (:mod:`layerwise.serve.batching`). Safe by
default: the run's file hashes are verified at start, the Host header must name the server, an
optional bearer token is compared in constant time (:mod:`layerwise.serve.guard`), request
bodies, rows, pixels and audio are limited, NaN/inf and wrong types are 422 naming the field,
and when ``max_concurrency`` predictions are already running a request gets 503 at once (with
Retry-After) instead of waiting in a queue. No response holds a traceback, and a client's
mistake logs nothing.

>>> app = create_app("runs/my-run")  # doctest: +SKIP
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations (Request)
# at definition time, and Request is imported inside create_app (FastAPI is an extra).
import json
import logging
import math
import os
import secrets
from typing import Any

from layerwise.serve.guard import LOOPBACK_HOSTS, Guard, Load
from layerwise.serve.inputs import Limits, RequestError
from layerwise.serve.requests import (
    Expected,
    example_request,
    joinable,
    read_request,
    request_fields,
)

LOG = logging.getLogger("layerwise.serve")


def _fastapi() -> Any:
    try:
        import fastapi
    except ImportError as error:
        from layerwise.errors import ConfigError

        raise ConfigError("Serving needs FastAPI and uvicorn, which are not installed.",
                          'Run: pip install "layerwise[serve]".') from error  # fmt: skip
    return fastapi


def create_app(run_dir: "str | os.PathLike", token: "str | None" = None,
               limits: "Limits | None" = None, hosts: "tuple[str, ...]" = LOOPBACK_HOSTS,
               docs: bool = False) -> Any:  # fmt: skip
    """The FastAPI app serving ``run_dir`` (its files verified now). ``hosts``: the names the
    Host header may give (``("*",)`` for any); ``docs``: Swagger UI at /docs (from a CDN)."""
    fastapi = _fastapi()
    from fastapi import Request
    from fastapi.responses import HTMLResponse, JSONResponse

    import layerwise
    from layerwise.runs.folder import RunFolder
    from layerwise.serve.page import page_html, page_policy

    limits = limits or Limits()
    folder = RunFolder.open(run_dir)  # every file's sha256 checked: a changed file fails here
    task = layerwise.load(run_dir)
    info = _info(task, folder)
    expected = Expected(info.get("input"))  # column kinds, image size: once, not per request
    app = fastapi.FastAPI(title=f"layerwise: {task.name}", version=info["versions"]["layerwise"],
                          description=f"Predictions of the run {folder.path.name}.",
                          docs_url="/docs" if docs else None, redoc_url=None)  # fmt: skip
    app.state.load = Load(limits.max_concurrency + limits.max_queue)
    app.state.task, app.state.run_dir, app.state.limits = task, str(run_dir), limits
    import anyio

    limiter = anyio.CapacityLimiter(limits.max_concurrency)
    from layerwise.serve.batching import MicroBatcher

    def in_thread(call: Any) -> Any:
        return anyio.to_thread.run_sync(call, limiter=limiter)

    batcher = MicroBatcher(lambda inputs: _predict(task, (inputs,), {}), in_thread,
                           in_flight=lambda: app.state.load.busy)  # fmt: skip

    def error(status: int, message: str, field: str | None = None, **headers: str) -> Any:
        body = {"error": message} | ({"field": field} if field else {})
        return JSONResponse(body, status_code=status, headers=headers or None)

    app.add_middleware(Guard, limits=limits, token=token, load=app.state.load, hosts=tuple(hosts))

    @app.exception_handler(Exception)
    async def failed(request: Any, exc: Exception) -> Any:  # never a traceback to the client
        LOG.error("error while serving %s: %r", request.url.path, exc)
        return error(500, "The server failed on this request; it is logged.")

    @app.exception_handler(RequestError)
    async def refused(request: Any, exc: RequestError) -> Any:
        return error(exc.status, exc.message, exc.field)

    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Any, exc: Any) -> Any:
        first = (exc.errors() or [{}])[0]
        where = ".".join(str(p) for p in first.get("loc", []) if p != "body")
        return error(422, f"{where or 'body'}: {first.get('msg', 'invalid')}.", where or None)

    @app.exception_handler(HTTPException)
    async def http_error(request: Any, exc: Any) -> Any:
        return error(exc.status_code, str(exc.detail))

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "task": task.name}

    @app.get("/info")
    def info_route() -> dict:
        return info

    @app.get("/", response_class=HTMLResponse)
    def page() -> Any:
        nonce = secrets.token_urlsafe(16)
        if token is None:
            text = page_html(info, nonce=nonce, docs=docs, kind=task.request_kind)
        else:  # without the token the page shows the form only: no metrics, no versions
            public = {k: info[k] for k in ("task", "run", "input", "request")}
            text = page_html(
                public, token_needed=True, nonce=nonce, docs=docs, kind=task.request_kind
            )
        return HTMLResponse(text, headers={"Content-Security-Policy": page_policy(nonce)})

    body_doc = {"requestBody": {"content": {
        "application/json": {"schema": {"type": "object"},
                             "example": example_request(task.request_kind, info.get("input") or {})},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"}}}}}}}  # fmt: skip

    @app.post("/predict", openapi_extra=body_doc)
    async def predict(request: Request) -> Any:
        try:
            args, kwargs = await read_request(task, request, limits, expected)
            if joinable(task) and not kwargs:  # one row in, one row out: joinable
                records, notes = await batcher.submit(args[0])
            else:
                records, notes = await in_thread(lambda: _predict(task, args, kwargs))
        except RequestError:
            raise
        except Exception as exc:
            from layerwise.errors import LayerwiseError

            if isinstance(exc, LayerwiseError):  # the task's own check of the inputs
                raise RequestError(422, exc.one_line()) from exc
            raise
        return _json_bytes({"predictions": records, "notes": notes})

    return app


def _info(task: Any, folder: Any) -> dict:
    schema = folder.read_json("schema.json") if folder.exists("schema.json") else {}
    metrics = folder.read_json("metrics.json") if folder.exists("metrics.json") else {}
    manifest = folder.manifest
    return {"task": task.name, "run": folder.path.name, "chosen": metrics.get("chosen"),
            "input": schema.get("input"), "output": schema.get("output"),
            "request": request_fields(task),
            "metric": metrics.get("metric"), "test": metrics.get("test"),
            "versions": manifest.get("libraries", {"layerwise": manifest.get("layerwise_version")}),
            "created": manifest.get("created")}  # fmt: skip


def _predict(task: Any, args: tuple, kwargs: dict) -> tuple[list[dict], list[str]]:
    """``task.predict`` in a worker thread: request rows become a frame here, and the
    prediction frame JSON-ready records, so the event loop does no pandas work."""
    from layerwise.serve.inputs import Joinable

    args = tuple(a.value() if isinstance(a, Joinable) else a for a in args)
    frame = task.predict(*args, **kwargs)
    return response_records(task, frame), list(frame.attrs.get("notes", []))


def response_records(task: Any, frame: Any) -> list[dict]:
    """The prediction frame as the JSON records a response carries: one per row, reshaped by
    the task's ``served_records`` where it has one (object detection nests a box's corners as
    ``"box": [x1, y1, x2, y2]``, the layout detection APIs answer with)."""
    records = _records(frame)
    shape = getattr(task, "served_records", None)
    return shape(records) if shape is not None else records


def _json_bytes(body: dict) -> Any:
    from starlette.responses import Response

    # the records are plain JSON types already: FastAPI's generic encoder would walk them again
    return Response(json.dumps(body, allow_nan=False).encode(), media_type="application/json")


def _records(frame: Any) -> list[dict]:
    """Prediction rows as JSON-safe dicts: NaN and NaT as null, numpy scalars as Python's,
    times as ISO 8601 text, anything else JSON has no type for as its text."""
    names = [str(c) for c in frame.columns]
    columns = [frame[c].tolist() for c in frame.columns]  # column-wise: to_dict is slow
    out = []
    for values in zip(*columns, strict=True):
        row = {}
        for name, v in zip(names, values, strict=True):
            if hasattr(v, "item") and not hasattr(v, "isoformat"):
                v = v.item()
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            elif v is not None and not isinstance(v, (str, int, float, bool, list, dict)):
                v = None if _missing(v) else v.isoformat() if hasattr(v, "isoformat") else str(v)
            row[name] = v
        out.append(row)
    return out


def _missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # an array-like cell
        return False
