"""An HTTP request as the arguments of the task's ``predict``: the JSON body's keys (or an
uploaded file) per request shape, checked on the way with :mod:`layerwise.serve.inputs`.

A task declares its shape as ``request_kind`` (one of :data:`REQUEST_FIELDS`' keys; None: not
served over HTTP) and whether concurrent requests may be joined as ``joinable_requests`` (see
:class:`layerwise.core.task.Task`); this is the one place that knows what each shape holds, and
the routes only call :func:`read_request`. A problem is a :class:`RequestError` naming the field.
"""

from __future__ import annotations

import io
import json
from typing import Any

from layerwise.serve.inputs import Limits, RequestError

# The request shapes a task can declare as its ``request_kind``, and what the JSON body holds in
# each (shown by /info as "request", and in the message for a body that is not an object).
# "series" is rows of a time series (the recent history): the page asks for a CSV file of it.
REQUEST_FIELDS = {
    "rows": "rows", "series": "rows", "images": "image | images (base64) or a file upload",
    "texts": "text | texts", "observations": "observation | observations",
    "prompts": "prompt | prompts", "count": "n, label", "users": "user | users, top",
    "audio": "audio (base64 WAV) or a file upload", "smiles": "smiles (one SMILES or a list)",
}  # fmt: skip


def request_fields(task: Any) -> str:
    """What a JSON request to ``task`` holds, e.g. ``"text | texts"``; "inputs" for a task
    that is not served over HTTP."""
    return REQUEST_FIELDS.get(task.request_kind, "inputs")


def joinable(task: Any) -> bool:
    """Whether ``task``'s predictions are one row per input: concurrent requests (with no
    options) may be joined into one ``predict`` call (:mod:`layerwise.serve.batching`)."""
    return bool(task.joinable_requests)


def table_columns(schema: dict) -> list[dict] | None:
    """The columns of a row request as ``[{"name", "kind"}]``, from a task's input schema
    (tables list them as records, or as ``name: kind``); None when the input is not a table row.

    >>> table_columns({"kind": "table", "columns": {"amount": "numeric"}})
    [{'name': 'amount', 'kind': 'numeric'}]
    """
    columns = schema.get("columns")
    if isinstance(columns, dict) and schema.get("kind", schema.get("type")) == "table":
        return [{"name": str(n), "kind": str(k)} for n, k in columns.items()]
    if (
        isinstance(columns, list)
        and columns
        and all(isinstance(c, dict) and "name" in c for c in columns)
    ):
        return [{"name": str(c["name"]), "kind": str(c.get("kind", ""))} for c in columns]
    return None


def example_request(kind: str | None, schema: dict) -> dict:
    """A request body of request shape ``kind`` (a task's ``request_kind``) for the docs and
    the page's JSON box; ``schema``: the run's input schema.

    >>> example_request("texts", {})
    {'text': 'a new text to classify'}
    """
    columns = table_columns(schema)
    if columns is not None:
        return {"rows": [{c["name"]: (0 if c["kind"] == "numeric" else "a") for c in columns}]}
    if kind == "series":
        names = [schema.get("time_column") or "time", *(schema.get("columns") or [])]
        return {"rows": [dict.fromkeys(names, 0)]}
    return {"observations": {"observation": [0.0] * int(schema.get("size", 1))},
            "texts": {"text": "a new text to classify"},
            "prompts": {"prompt": "Once upon a time"},
            "count": {"n": 1},
            "users": {"user": "1", "top": 10},
            "audio": {"audio": "<base64 WAV>", "transcribe": False},
            "smiles": {"smiles": "CC(=O)Oc1ccccc1C(=O)O"},
            "images": {"image": "<base64 PNG or JPEG>"}}.get(kind or "", {})  # fmt: skip


class Expected:
    """What the run's input schema says a request holds, worked out once per app: the column
    kinds of row requests (:func:`column_kinds`) and an image run's input shape."""

    def __init__(self, schema: dict | None):
        from layerwise.serve.images import input_shape

        self.kinds, self.shape = column_kinds(schema), input_shape(schema)


def column_kinds(schema: dict | None) -> dict[str, str]:
    """Column -> kind of a row request, from a task's input schema: a table's columns, or a
    series' value columns (numeric); empty when the input is not rows.

    >>> column_kinds({"type": "series", "time_column": "t", "columns": ["sales"]})
    {'sales': 'numeric'}
    """
    schema = schema or {}
    columns = table_columns(schema)
    if columns is not None:
        return {c["name"]: c["kind"] for c in columns}
    if schema.get("type") == "series" and isinstance(schema.get("columns"), list):
        return {str(c): "numeric" for c in schema["columns"]}
    return {}


async def read_request(task: Any, request: Any, limits: Limits,
                       expected: Expected | None = None) -> tuple[tuple, dict]:  # fmt: skip
    """The request's body as ``predict``'s arguments, checked against ``expected`` (from the
    run's input schema). The body arrives through the app's guard, which cuts it at
    ``limits.max_body_bytes`` as it streams in, multipart included."""
    from starlette.requests import ClientDisconnect

    expected = expected or Expected(None)
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    try:
        if kind == "multipart/form-data":
            form = await request.form(max_files=1, max_fields=8,
                                      max_part_size=limits.max_body_bytes)  # fmt: skip
            options = {k: v for k, v in form.items() if k != "file" and isinstance(v, str)}
            upload = form.get("file")
            if upload is None or not hasattr(upload, "read"):
                raise RequestError(422, "The form has no 'file' field.", "file")
            return from_upload(task, await upload.read(), options, limits, expected=expected)
        raw = await request.body() if kind == "application/json" else b""
    except ClientDisconnect as exc:  # gone (or cut off for a late body): nobody to answer
        raise RequestError(400, "The connection closed before the body arrived.") from exc
    if kind != "application/json":
        # JSON sent as text/plain (or a form) is what a cross-site page can POST without a
        # CORS preflight: only the types a page cannot send unasked, or a real upload, pass
        raise RequestError(415, f"The body is sent as '{kind or 'no content-type'}'; send JSON "
                           "with 'Content-Type: application/json', or a multipart/form-data "
                           "upload.")  # fmt: skip
    try:
        body = json.loads(raw or b"null")  # NaN/Infinity parse to floats: each field's check
        # then refuses them by name (rows[0].age), which the parser could not say
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(422, f"The body is not valid JSON ({exc}).") from exc
    except RecursionError as exc:  # the parser's own depth limit: deeply nested arrays
        raise RequestError(422, "The JSON is nested too deeply; no request needs more than a "
                           "few levels.") from exc  # fmt: skip
    if not isinstance(body, dict):
        raise RequestError(422, "The body must be a JSON object, e.g. "
                           f"{{\"{request_fields(task).split(' ')[0]}\": ...}}.")  # fmt: skip
    return from_json(task, body, limits, expected)


def from_json(task: Any, body: dict, limits: Limits,
              expected: Expected | None = None) -> tuple[tuple, dict]:  # fmt: skip
    from layerwise.serve import images, inputs

    kind, expected = task.request_kind, expected or Expected(None)
    if kind in ("rows", "series"):
        kinds = expected.kinds
        return (
            inputs.read_rows(body, limits, kinds)
            if joinable(task)
            else inputs.rows_frame(body, limits, kinds),
        ), {}
    if kind == "images":
        return (images.Images(images.images_from_json(body, limits, expected.shape)),), {}
    if kind == "texts":
        return (inputs.texts_list(body, limits),), _decoding(task, body)
    if kind == "smiles":  # one string or a list of them, under the one key "smiles"
        return (inputs.texts_list(body, limits, "smiles", "smiles"),), {}
    if kind == "observations":
        return (inputs.observations(body, limits),), {}
    if kind == "prompts":
        key = "prompt" if "prompt" in body else "prompts"
        return (
            inputs.texts_list({"texts" if key == "prompts" else "text": body.get(key)}, limits),
        ), {}
    if kind == "count":
        return (_generation_request(body, limits),), {}
    if kind == "users":
        users = body.get("users", [body["user"]] if "user" in body else None)
        if not isinstance(users, list) or not users or len(users) > limits.max_rows:
            raise RequestError(422, "Give 'user' (an id) or 'users' (a list of ids).", "users")
        for i, user in enumerate(users):
            if isinstance(user, bool) or not isinstance(user, (str, int)):
                raise RequestError(422, f"users[{i}] must be an id (text or a whole number).",
                                   f"users[{i}]")  # fmt: skip
        top = body.get("top")
        if top is not None and (
            isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= 1000
        ):
            raise RequestError(422, "'top' must be a whole number from 1 to 1000.", "top")
        return ([str(u) for u in users],), {"top": top}
    if kind == "audio":
        import base64

        audio = body.get("audio")
        if not isinstance(audio, str):
            raise RequestError(422, "'audio' must be a base64 WAV (or upload the file).", "audio")
        try:
            data = base64.b64decode(audio, validate=True)
        except ValueError as exc:
            raise RequestError(422, "'audio' is not valid base64.", "audio") from exc
        return from_upload(task, data, {"transcribe": body.get("transcribe", False)}, limits,
                           field="audio", expected=expected)  # fmt: skip
    raise RequestError(422, f"{task.name} runs cannot be served over HTTP yet.")


DECODING = {"beam": 16, "max_tokens": 512}  # options a text-writing task may take, and caps


def _decoding(task: Any, body: dict) -> dict[str, int]:
    """The decoding options of a texts request (``beam``, ``max_tokens``) that the task's
    ``predict`` takes, checked: whole numbers from 1 to their cap."""
    options = {}
    for name, cap in DECODING.items():
        if name not in getattr(task, "predict_options", ()) or body.get(name) is None:
            continue
        value = body[name]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= cap:
            raise RequestError(422, f"'{name}' must be a whole number from 1 to {cap}.", name)
        options[name] = value
    return options


def _generation_request(body: dict, limits: Limits) -> Any:
    n, label = body.get("n", 1), body.get("label")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= limits.max_images:
        raise RequestError(422, f"'n' must be a whole number from 1 to {limits.max_images}.", "n")
    if label is not None and not isinstance(label, (str, int)):
        raise RequestError(422, "'label' must be a class name.", "label")
    return n if label is None else [str(label)] * n


def from_upload(task: Any, data: bytes, options: dict, limits: Limits, field: str = "file",
                expected: Expected | None = None) -> tuple[tuple, dict]:  # fmt: skip
    """An uploaded file (``field``) and the form's other fields (``options``)."""
    from layerwise.serve import images, inputs

    kind, expected = task.request_kind, expected or Expected(None)
    if kind == "images":
        shape = expected.shape
        return (images.Images([images.decode_image(data, field, limits, shape)]),), {}
    if kind == "audio":
        samples, rate = inputs.wav_samples(data, field, limits)
        transcribe = options.get("transcribe", False)
        if isinstance(transcribe, str):  # a form field
            transcribe = transcribe.strip().lower() in ("1", "true", "yes", "on")
        if not isinstance(transcribe, bool):
            raise RequestError(422, "'transcribe' must be true or false.", "transcribe")
        return (([samples], rate),), {"transcribe": transcribe}
    if kind in ("rows", "series"):
        import pandas as pd

        try:
            frame = pd.read_csv(io.BytesIO(data))
        except (ValueError, UnicodeDecodeError) as exc:
            raise RequestError(
                422, f"The file is not a CSV pandas can read ({exc}).", field
            ) from exc
        if len(frame) > limits.max_rows:
            raise RequestError(413, f"{len(frame)} rows; at most {limits.max_rows}.", field)
        return (inputs.check_frame(frame, expected.kinds, field),), {}
    raise RequestError(415, f"{task.name} runs take JSON, not a file upload.", field)
