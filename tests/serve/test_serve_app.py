"""The HTTP server: the same predictions as the Python API, and every safety default and limit
answered with the right status and a message naming the problem, never a traceback."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import layerwise
from layerwise.errors import RunFolderError
from layerwise.serve.app import create_app
from layerwise.serve.inputs import Limits

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TOKEN = "s3cret-token-0123456789"


@pytest.fixture(scope="module")
def table():
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "benign"})
    return frame


@pytest.fixture(scope="module")
def tabular_run(table, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return layerwise.fit(table, target="benign", candidates=["linear"], output_dir=str(out),
                         verbose=False, report=False)  # fmt: skip


@pytest.fixture(scope="module")
def client(tabular_run, client_of):
    return client_of(create_app(tabular_run.path, limits=Limits(max_rows=50)))


def rows(table, n=3):
    return table.drop(columns=["benign"]).head(n).to_dict("records")


def test_health_info_and_docs(client, tabular_run, client_of):
    assert client.get("/health").json() == {"status": "ok", "task": "tabular-classification"}
    info = client.get("/info").json()
    assert info["task"] == "tabular-classification" and info["chosen"] == "linear"
    assert {c["name"] for c in info["input"]["columns"]} >= {"mean radius", "worst area"}
    assert info["test"] == tabular_run.metrics["test"] and "torch" in info["versions"]
    assert "/predict" in client.get("/openapi.json").json()["paths"]
    # Swagger UI loads its script from a CDN: off unless asked for
    assert client.get("/docs").status_code == 404
    with_docs = client_of(create_app(tabular_run.path, docs=True)).get("/docs")
    assert with_docs.status_code == 200 and "swagger" in with_docs.text.lower()


def test_predict_gives_what_the_python_api_gives(client, tabular_run, table):
    response = client.post("/predict", json={"rows": rows(table)})
    assert response.status_code == 200
    served = pd.DataFrame(response.json()["predictions"])
    local = tabular_run.predict(pd.DataFrame(rows(table)))
    assert served["prediction"].tolist() == local["prediction"].tolist()
    assert np.allclose(served["probability_1"], local["probability_1"])


def test_page_has_a_field_per_column(client):
    page = client.get("/").text
    assert '<input id="mean radius"' in page and "fetch('predict'" in page


@pytest.mark.parametrize(("body", "status", "says"), [
    ('{"rows": [{"mean radius": NaN}]}', 422, "rows[0].mean radius: NaN"),
    ('{"rows": [{"mean radius": 1}, {"mean radius": -Infinity}]}', 422, "rows[1].mean radius: NaN"),
    ('{"rows": [{"mean radius": [1, 2]}]}', 422, "rows[0].mean radius"),
    ('{"rows": []}', 422, "empty"),
    ('{"rows": "x"}', 422, "'rows' must be a list"),
    ('{"row": []}', 422, "'rows' is missing"),
    ("[1, 2]", 422, "JSON object"),
    ("{not json", 422, "not valid JSON"),
    ('{"rows": [{"mean radiuss": 1}]}', 422, "mean radius"),
])  # fmt: skip
def test_bad_requests_get_422_naming_the_problem(client, body, status, says):
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert says in response.json()["error"] and "Traceback" not in response.text


def test_limits_answer_413(client, table, client_of):
    many = client.post("/predict", json={"rows": rows(table, 51)})
    assert many.status_code == 413 and "50 allowed" in many.json()["error"]
    small = client_of(create_app(client.app.state.run_dir, limits=Limits(max_body_bytes=100)))
    assert small.post("/predict", json={"rows": rows(table)}).status_code == 413


def test_overload_answers_503_at_once(client, table):
    client.app.state.load.busy = 32
    try:
        response = client.post("/predict", json={"rows": rows(table)})
    finally:
        client.app.state.load.busy = 0
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert "busy" in response.json()["error"]
    # requests that succeed or fail give their place back
    assert client.post("/predict", json={"rows": rows(table)}).status_code == 200
    assert client.post("/predict", json={"rows": []}).status_code == 422
    assert client.app.state.load.busy == 0


def test_failures_inside_are_500_without_a_traceback(tabular_run, table, monkeypatch, client_of):
    app = create_app(tabular_run.path)
    task = app.state.task

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(task, "predict", broken)
    response = client_of(app, raise_server_exceptions=False).post(
        "/predict", json={"rows": rows(table)}
    )
    assert response.status_code == 500
    assert "secret" not in response.text and "Traceback" not in response.text


def test_token_is_required_when_set(tabular_run, table, client_of):
    guarded = client_of(create_app(tabular_run.path, token=TOKEN))
    body = {"rows": rows(table, 1)}
    assert guarded.post("/predict", json=body).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert guarded.post("/predict", json=body, headers=wrong).status_code == 401
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert guarded.post("/predict", json=body, headers=right).status_code == 200
    assert guarded.get("/info").status_code == 401 and guarded.get("/health").status_code == 200
    page = guarded.get("/")  # the form loads; predictions need the token typed into it
    assert page.status_code == 200 and 'id="token"' in page.text and "accuracy" not in page.text
    assert "versions" not in page.text and layerwise.__version__ not in page.text
    # the OpenAPI description names the version too: behind the token
    assert guarded.get("/openapi.json").status_code == 401


def test_a_changed_run_folder_is_refused_at_start(tabular_run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(tabular_run.path, copy)
    (copy / "preprocess.json").write_text("{}")
    with pytest.raises(RunFolderError):
        create_app(copy)


@pytest.fixture(scope="module")
def image_client(tmp_path_factory, client_of):
    from layerwise.data.image_sources import digits

    out = tmp_path_factory.mktemp("image-runs")
    run = layerwise.fit(digits(), task="image-classification", candidates=["pixel-logistic"],
                        output_dir=str(out), verbose=False, report=False)  # fmt: skip
    return client_of(create_app(run.path, limits=Limits(max_pixels=100_000))), run


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_images_by_upload_and_base64(image_client):
    client, run = image_client
    from layerwise.data.image_sources import digits

    image = digits().images[0]
    image = image[..., 0] if image.ndim == 3 else image
    upload = client.post("/predict", files={"file": ("digit.png", png(image), "image/png")})
    assert upload.status_code == 200
    encoded = client.post("/predict", json={"image": base64.b64encode(png(image)).decode()})
    assert (
        encoded.json()["predictions"][0]["prediction"]
        == upload.json()["predictions"][0]["prediction"]
    )
    assert (
        upload.json()["predictions"][0]["prediction"]
        == run.predict(np.stack([image]))["prediction"][0]
    )


def test_images_of_one_shape_join_and_mixed_sizes_are_resized_not_padded():
    from layerwise.serve.images import Images, image_set

    grey, white = np.full((8, 8), 128, np.uint8), np.full((8, 8), 255, np.uint8)
    colour = np.zeros((16, 12, 3), np.uint8)
    assert Images([grey]).key() == Images([white]).key()
    assert Images([grey, colour]).key() is None  # mixed shapes: predicted alone
    joined = Images.join([Images([grey]), Images([white])])
    assert len(joined) == 2 and joined.value().images.shape[0] == 2
    mixed = image_set([grey, colour]).images
    assert mixed.shape[:3] == (2, 16, 12)
    assert (mixed[0] == 128).all()  # stretched, no black border


def test_bad_images_are_refused(image_client):
    client, _ = image_client
    corrupt = client.post(
        "/predict", files={"file": ("x.png", b"\x89PNG\r\n not really", "image/png")}
    )
    assert corrupt.status_code == 422 and "not an image" in corrupt.json()["error"]
    bomb = png(np.zeros((1000, 1000), np.uint8))  # small file, 1M pixels > the 100k limit
    refused = client.post("/predict", files={"file": ("big.png", bomb, "image/png")})
    assert refused.status_code == 413 and "pixels" in refused.json()["error"]
    assert client.post("/predict", json={"image": "%%%"}).status_code == 422


def test_batch_prediction_streams_chunks_and_matches_whole(tabular_run, table, tmp_path):
    from layerwise.cli.main import main
    from layerwise.serve.batch import predict_file

    features = pd.concat([table.drop(columns=["benign"])] * 3, ignore_index=True)
    features.to_csv(tmp_path / "big.csv", index=False)
    features.to_parquet(tmp_path / "big.parquet")
    done = predict_file(tabular_run.task, tmp_path / "big.csv", tmp_path / "out.csv", 500,
                        progress=False)  # fmt: skip
    assert done["rows"] == len(features) and done["chunks"] == 4
    streamed = pd.read_csv(tmp_path / "out.csv")
    whole = tabular_run.predict(features)
    assert streamed["prediction"].tolist() == whole["prediction"].tolist()
    assert done["notes"] == []
    dirty = features.astype({"mean radius": object})
    dirty.loc[700, "mean radius"] = "forty"  # in the second chunk: its note says so
    dirty.to_csv(tmp_path / "dirty.csv", index=False)
    done = predict_file(tabular_run.task, tmp_path / "dirty.csv", tmp_path / "out.csv", 500,
                        progress=False)  # fmt: skip
    assert len(done["notes"]) == 1 and done["notes"][0].startswith("rows 501-1,000: 1 value in "
                                                                   "'mean radius'"), done["notes"]  # fmt: skip
    main(["predict", str(tabular_run.path), str(tmp_path / "big.parquet"), "-o",
          str(tmp_path / "out2.csv"), "--batch-size", "400"])  # fmt: skip
    assert pd.read_csv(tmp_path / "out2.csv")["prediction"].tolist() == whole["prediction"].tolist()
    assert not list(tmp_path.glob("*.partial"))
    with pytest.raises(SystemExit) as exit_:
        main(["predict", str(tabular_run.path), str(tmp_path / "big.csv"), "--batch-size", "10"])
    assert exit_.value.code == 2


def test_fuzzed_requests_are_4xx_with_a_message_never_5xx(client):
    import json

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)  # fmt: skip
    bodies = st.one_of(
        st.binary(max_size=100),
        values.map(lambda v: json.dumps(v).encode()),
        st.lists(st.dictionaries(st.sampled_from(["mean radius", "x", ""]), scalars, max_size=3),
                 max_size=3).map(lambda rows: json.dumps({"rows": rows}).encode()),
    )  # fmt: skip

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        body=bodies, kind=st.sampled_from(["application/json", "text/plain", "multipart/form-data"])
    )
    def one(body, kind):
        response = client.post("/predict", content=body, headers={"content-type": kind})
        assert response.status_code < 500, response.text
        if response.status_code != 200:
            assert 400 <= response.status_code < 500 and response.json()["error"]

    one()


def test_an_agent_answers_observations(contract_run, client_of):
    run, _, _ = contract_run("reinforcement-learning")  # CartPole: 4 numbers an observation
    client = client_of(create_app(run.path))
    one = client.post("/predict", json={"observation": [0.01, 0.2, -0.03, 0.1]})
    assert one.status_code == 200
    local = run.predict([[0.01, 0.2, -0.03, 0.1]]).iloc[0]
    served = one.json()["predictions"][0]
    assert served["action"] == local["action"]
    assert served["probability_1"] == pytest.approx(local["probability_1"])
    short = client.post("/predict", json={"observation": [0.01, 0.2]})
    assert short.status_code == 422 and "observes 4" in short.json()["error"]
    text = client.post("/predict", json={"observation": [0.01, "x", 0, 0]})
    assert text.status_code == 422 and text.json()["field"] == "observation[1]"
    nan = client.post("/predict", content=b'{"observation": [0.01, 0.2, NaN, 0.1]}',
                      headers={"content-type": "application/json"})  # fmt: skip
    assert nan.status_code == 422 and nan.json()["field"] == "observation[2]"


def test_a_body_without_length_is_cut_at_the_limit(tabular_run, client_of):
    small = client_of(create_app(tabular_run.path, limits=Limits(max_body_bytes=1000)))

    def body():
        for _ in range(100):
            yield b" " * 100

    response = small.post("/predict", content=body(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_audio_over_the_limit_or_not_a_wav_is_refused():
    import wave

    from layerwise.serve.inputs import RequestError, wav_samples

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x00" * 8000 * 3)  # 3 s
    samples, rate = wav_samples(buffer.getvalue(), "file", Limits(max_audio_seconds=5))
    assert rate == 8000 and samples.shape == (24000,)
    with pytest.raises(RequestError, match="lasts 3.0 s"):
        wav_samples(buffer.getvalue(), "file", Limits(max_audio_seconds=2))
    for junk in (b"RIFF nonsense", b"", b"\x89PNG not audio"):
        with pytest.raises(RequestError, match="not a WAV") as refused:
            wav_samples(junk, "file", Limits())
        assert refused.value.status == 422 and refused.value.field == "file"


def test_serve_cli_refuses_a_short_token_and_a_missing_run(tabular_run, tmp_path, capsys):
    from layerwise.cli.main import main

    (tmp_path / "token.txt").write_text("short")
    for argv, says in ((["serve", str(tabular_run.path), "--token-file", str(tmp_path / "token.txt")],
                        "shorter than 16"), (["serve", str(tmp_path / "nope")], "nope")):  # fmt: skip
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2 and says in capsys.readouterr().err


def test_concurrent_requests_are_joined_and_each_gets_its_own_rows(tabular_run, table):
    import asyncio

    from layerwise.serve.batching import MicroBatcher
    from layerwise.serve.inputs import Limits, read_rows

    calls = []

    def predict(inputs):
        calls.append(len(inputs))
        if "refuse me" in inputs.columns["mean radius"]:
            raise ValueError("a bad value")
        frame = tabular_run.task.predict(inputs.value())
        return frame["prediction"].tolist(), ["a note"]

    async def run_in_thread(call):
        return call()

    async def main():
        batcher = MicroBatcher(predict, run_in_thread, window_s=0.01)
        good = [read_rows({"rows": rows(table.iloc[i:], 1)}, Limits()) for i in range(6)]
        bad = read_rows({"rows": [{"mean radius": 1.0}]}, Limits())  # its own columns: alone
        short = read_rows({"rows": rows(table.iloc[6:], 2)}, Limits())
        short.columns["mean radius"] = ["refuse me", 1.0]  # joins the good rows, then fails
        return await asyncio.gather(*(batcher.submit(f) for f in good), batcher.submit(bad),
                                    batcher.submit(short), return_exceptions=True)  # fmt: skip

    results = asyncio.run(main())
    expected = tabular_run.predict(pd.DataFrame(rows(table, 6)))["prediction"].tolist()
    assert [r[0][0] for r in results[:6]] == expected
    assert all(r[1] == ["a note"] for r in results[:6])
    assert isinstance(results[6], Exception) and isinstance(results[7], Exception)
    # the six good rows and the bad two in one call, which failed; then each alone
    assert calls[:2] == [8, 1] and sorted(calls[2:]) == [1, 1, 1, 1, 1, 1, 2]


def test_layerwise_serve_answers_curl_with_its_token(tabular_run, table, tmp_path):
    """The real command: a uvicorn process started by `layerwise serve`, asked with curl."""
    import json
    import shutil
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "token.txt").write_text(TOKEN + "\n")
    server = subprocess.Popen([sys.executable, "-m", "layerwise.cli.main", "serve",
                               str(tabular_run.path), "--port", str(port), "--token-file",
                               str(tmp_path / "token.txt")], stderr=subprocess.PIPE)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(url + "/health", timeout=1) as health:
                    assert json.load(health)["status"] == "ok"
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                time.sleep(0.1)
        body = json.dumps({"rows": rows(table, 2)})

        def ask(*headers: str) -> tuple[int, dict]:
            args = [curl, "-s", "-w", "\n%{http_code}", "-X", "POST", url + "/predict", "-H",
                    "content-type: application/json", "-d", body]  # fmt: skip
            for header in headers:
                args += ["-H", header]
            out = subprocess.run(args, capture_output=True, text=True, timeout=30).stdout
            text, _, code = out.rpartition("\n")
            return int(code), json.loads(text)

        code, answer = ask(f"Authorization: Bearer {TOKEN}")
        expected = tabular_run.predict(pd.DataFrame(rows(table, 2)))["prediction"].tolist()
        assert code == 200 and [r["prediction"] for r in answer["predictions"]] == expected
        code, answer = ask()
        assert code == 401 and "token" in answer["error"]
        code, answer = ask("Authorization: Bearer wrong-token-0123456789")
        assert code == 401
    finally:
        server.terminate()
        server.wait(10)


def test_the_batcher_waits_for_as_many_as_came_last_time_and_not_for_a_lone_request():
    import asyncio

    from layerwise.serve.batching import MicroBatcher

    calls = []

    def predict(inputs):
        calls.append(len(inputs))
        return list(inputs), []

    async def run_in_thread(call):
        return call()

    async def later(batcher, inputs, delay):
        await asyncio.sleep(delay)
        return await batcher.submit(inputs)

    async def main():
        batcher = MicroBatcher(predict, run_in_thread, window_s=0.5, in_flight=lambda: 1)
        await batcher.submit(["alone"])  # nobody came before and nobody is in flight: at once
        await asyncio.gather(*(batcher.submit([f"a{i}"]) for i in range(3)))
        # three came together last time: the next one waits (up to the window) for two more
        return await asyncio.gather(batcher.submit(["b0"]), later(batcher, ["b1"], 0.01),
                                    later(batcher, ["b2"], 0.02))  # fmt: skip

    results = asyncio.run(main())
    assert calls == [1, 3, 3]
    assert [r[0] for r in results] == [["b0"], ["b1"], ["b2"]]


def test_a_joined_call_with_notes_is_redone_so_no_request_reads_of_anothers_rows():
    import asyncio

    from layerwise.serve.batching import MicroBatcher

    calls = []

    def predict(inputs):
        calls.append(list(inputs))
        return list(inputs), [f"row {v} is odd" for v in inputs if v.startswith("odd")]

    async def run_in_thread(call):
        return call()

    async def main():
        batcher = MicroBatcher(predict, run_in_thread, window_s=0.05, in_flight=lambda: 3)
        return await asyncio.gather(*(batcher.submit([v]) for v in ("a", "odd-b", "c")))

    results = asyncio.run(main())
    assert calls[0] == ["a", "odd-b", "c"]  # joined first; its notes name one request's row
    assert sorted(map(tuple, calls[1:])) == [("a",), ("c",), ("odd-b",)]
    assert [r[1] for r in results] == [[], ["row odd-b is odd"], []]
