"""Every registered task over HTTP: its contract run is served, the request a user would send is
built from the contract's inputs, and the answer equals what ``predict`` gives in process."""

from __future__ import annotations

import base64
import io
import json
import math
import wave

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from layerwise.core.registry import TASKS

pytest.importorskip("fastapi")

from layerwise.serve.app import create_app


def _png(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image.squeeze()).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _wav(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def request_for(name: str, inputs):
    """(keyword arguments for ``client.post``, the inputs ``predict`` gets in process)."""
    if isinstance(inputs, pd.DataFrame) and name != "recommendation":
        rows = json.loads(inputs.to_json(orient="records", date_format="iso"))
        return {"json": {"rows": rows}}, inputs
    if name == "image-classification":
        return {"json": {"images": [_png(im) for im in inputs]}}, inputs
    if name == "object-detection":  # a DetectionSet: its images, boxes found in their pixels
        return {"json": {"images": [_png(im) for im in inputs.images]}}, list(inputs.images)
    if name == "segmentation":  # grey images: each mask comes back as a palette PNG
        return {"json": {"images": [_png(im) for im in inputs]}}, list(inputs)
    if name in ("text-classification", "text-to-text"):
        return {"json": {"texts": list(inputs)}}, inputs
    if name == "language-generation":
        return {"json": {"prompts": list(inputs)}}, inputs
    if name == "reinforcement-learning":
        return {"json": {"observations": inputs}}, inputs
    if name == "recommendation":
        users = [str(u) for u in inputs["user"]]
        return {"json": {"users": users}}, users
    if name == "image-generation":
        return {"json": {"label": inputs[0], "n": 2}}, [inputs[0]] * 2
    if name == "speech-recognition":
        clip = inputs.clips[0]
        wav = _wav(clip, inputs.rate)
        return {"files": {"file": ("word.wav", wav, "audio/wav")}}, (
            [np.frombuffer(wav[44:], "<i2").astype(np.float32) / 32768], inputs.rate)  # fmt: skip
    if name == "molecular-property":  # SMILES: each answer also carries a drawing
        return {"json": {"smiles": list(inputs)}}, list(inputs)
    raise AssertionError(f"no request written for {name}: add one here")


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_every_task_declares_a_request_shape_the_server_knows():
    from layerwise.serve.requests import REQUEST_FIELDS

    shapes = {name: TASKS.get(name).request_kind for name in TASKS.names()}
    assert {n: k for n, k in shapes.items() if k not in REQUEST_FIELDS} == {}


@pytest.mark.parametrize("name", TASKS.names())
def test_every_task_answers_over_http_as_predict_does(name, contract_run, client_of):
    from layerwise.serve.app import response_records

    run, _, inputs = contract_run(name)
    client = client_of(create_app(run.path), raise_server_exceptions=False)
    info = client.get("/info").json()
    assert info["task"] == name and info["input"] is not None
    assert client.get("/").status_code == 200

    request, in_process = request_for(name, inputs)
    response = client.post("/predict", **request)
    assert response.status_code == 200, response.text
    got = response.json()["predictions"]
    expected = json.loads(json.dumps(response_records(run.task, run.predict(in_process))))
    assert got, "no predictions"
    # what a response's records hold: the frame's columns unless the task reshapes them
    assert set(got[0]) >= set(info["output"].get("served_fields", info["output"]["fields"]))
    assert _same(got, expected), (got[:2], expected[:2])


def test_speech_transcribes_when_asked(contract_run, client_of):
    run, _, inputs = contract_run("speech-recognition")
    client = client_of(create_app(run.path))
    wav = _wav(np.concatenate(inputs.clips[:2]), inputs.rate)
    upload = client.post("/predict", files={"file": ("two.wav", wav, "audio/wav")},
                         data={"transcribe": "true"})  # fmt: skip
    encoded = client.post("/predict", json={"audio": base64.b64encode(wav).decode(),
                                            "transcribe": True})  # fmt: skip
    assert upload.status_code == 200 and encoded.status_code == 200, upload.text
    assert upload.json() == encoded.json()
    assert "prediction" not in upload.json()["predictions"][0]  # a transcript, not a word
    bad = client.post("/predict", json={"audio": base64.b64encode(b"RIFF....").decode()})
    assert bad.status_code == 422 and "not a WAV" in bad.json()["error"]


def test_recommendation_top_and_unknown_users(contract_run, client_of):
    run, _, inputs = contract_run("recommendation")
    client = client_of(create_app(run.path))
    user = str(inputs["user"].iloc[0])
    three = client.post("/predict", json={"user": user, "top": 3}).json()["predictions"]
    assert [r["rank"] for r in three] == [1, 2, 3] and {r["user"] for r in three} == {user}
    for body, field in (({"user": user, "top": 0}, "top"), ({"users": "x"}, "users")):
        refused = client.post("/predict", json=body)
        assert refused.status_code == 422 and refused.json()["field"] == field
