"""The server against hostile requests: image bombs, chunked uploads past the limit, wrong
types, cross-site and rebinding requests, deep JSON, slow or huge request heads. Memory is
measured on a real `layerwise serve` process (its peak resident size from /proc), never time."""

from __future__ import annotations

import base64
import io
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytest.importorskip("fastapi")

from layerwise.serve.app import create_app
from layerwise.serve.inputs import Limits

MB = 1 << 20


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A 5000x5000 RGB PNG of one colour: 25 megapixels (75 MB decoded) in under 100 KB."""
    return png(np.zeros((5000, 5000, 3), np.uint8))


def _memory(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key} in /proc/{pid}/status")


class Served:
    """`layerwise serve RUN` in a subprocess, its private memory capped (a regression fails the
    test instead of exhausting the machine): its url, resident size now and peak since start."""

    def __init__(self, run_path: Path, *args: str, cap: int = 3 << 30):
        import resource

        if not Path("/proc/self/status").exists():
            pytest.skip("peak memory is read from /proc (Linux)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))

        self.process = subprocess.Popen(
            [sys.executable, "-m", "layerwise.cli.main", "serve", str(run_path), "--port",
             str(port), *args], stderr=subprocess.PIPE, text=True, preexec_fn=limit,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"
        import httpx

        for _ in range(600):
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                assert self.process.poll() is None, self.process.stderr.read()
                time.sleep(0.1)
        raise AssertionError("the server did not start")

    def rss(self) -> int:
        """Resident size now, with the peak reset to it (Linux's clear_refs)."""
        try:
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
        except OSError:
            pytest.skip("the peak resident size cannot be reset here")
        return _memory(self.process.pid, "VmRSS")

    def peak(self) -> int:
        return _memory(self.process.pid, "VmHWM")

    def stop(self) -> str:
        """Stops the server; what it wrote to stderr."""
        self.process.terminate()
        try:
            return self.process.communicate(timeout=20)[1]
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.communicate()[1]


@pytest.fixture(scope="module")
def image_server(contract_run):
    run, _, _ = contract_run("image-classification")
    served = Served(run.path)
    yield served
    served.stop()


def test_many_bomb_images_are_413_before_decoding_and_memory_stays_flat(image_server, bomb):
    import httpx

    encoded = base64.b64encode(bomb).decode()
    before = image_server.rss()
    # 16 x 25 MP: 1.5 MB of JSON that used to decode to 1.2 GB and peak at 2.8 GB
    refused = httpx.post(image_server.url + "/predict", json={"images": [encoded] * 16},
                         timeout=120)  # fmt: skip
    assert refused.status_code == 413, refused.text
    answer = refused.json()
    assert answer["field"] == "images" and "32,000,000" in answer["error"]
    assert "400,000,000 pixels" in answer["error"]
    assert image_server.peak() - before < 100 * MB  # nothing was decoded
    # one 25 MP image is accepted, decoded alone and brought to the run's size at once
    before = image_server.rss()
    one = httpx.post(image_server.url + "/predict", json={"image": encoded}, timeout=120)
    assert one.status_code == 200, one.text
    assert image_server.peak() - before < 300 * MB  # the frame once, never a stack of copies


def test_only_common_image_formats_are_opened(contract_run, client_of):
    """Pillow opens dozens of formats, EPS through Ghostscript: a request gets the common ones."""
    run, _, _ = contract_run("image-classification")
    client = client_of(create_app(run.path))
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n"
    refused = client.post("/predict", files={"file": ("x.eps", eps, "application/postscript")})
    assert refused.status_code == 422 and "PNG, JPEG" in refused.json()["error"]
    gray = np.full((20, 30), 90, np.uint8)
    for kind in ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"):
        buffer = io.BytesIO()
        Image.fromarray(gray).save(buffer, format=kind)
        response = client.post("/predict", files={"file": (f"x.{kind}", buffer.getvalue())})
        assert response.status_code == 200, (kind, response.text)


def test_a_chunked_upload_over_the_limit_is_cut_as_it_streams(image_server):
    """No content-length: the size is only known by counting, so the server must count."""
    import httpx

    boundary = "layerwise-test-boundary"

    def body():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               "filename=\"big.png\"\r\nContent-Type: image/png\r\n\r\n").encode()  # fmt: skip
        chunk = b"\0" * MB
        for _ in range(150):  # 150 MB, 15 times the limit
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    before = image_server.rss()
    response = httpx.post(image_server.url + "/predict", content=body(), timeout=120,
                          headers={"content-type": f"multipart/form-data; boundary={boundary}"})  # fmt: skip
    assert response.status_code == 413 and "10,485,760 bytes" in response.json()["error"]
    assert image_server.peak() - before < 50 * MB
    assert httpx.get(image_server.url + "/health").status_code == 200


def test_deep_json_is_422_and_logs_no_traceback(contract_run):
    import httpx

    run, _, _ = contract_run("tabular-classification")
    served = Served(run.path)
    try:
        deep = b'{"rows": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
        response = httpx.post(served.url + "/predict", content=deep,
                              headers={"content-type": "application/json"})  # fmt: skip
        assert response.status_code == 422 and "nested too deeply" in response.json()["error"]
        huge = httpx.post(served.url + "/predict", json={"rows": [{"a": 1e308}]})
        assert huge.status_code == 422 and huge.json()["field"] == "rows[0].a"
    finally:
        log = served.stop()
    assert "Traceback" not in log and "RuntimeWarning" not in log, log


@pytest.fixture(scope="module")
def table_client(contract_run, client_of):
    run, _, inputs = contract_run("tabular-classification")  # columns a, b (numbers), colour
    return client_of(create_app(run.path)), run, inputs


@pytest.mark.parametrize(("value", "says"), [
    ("forty", "'forty' is not a number"),
    (True, "true is not a number"),
    (1e308, "beyond the range"),
    (-(10**40), "beyond the range"),
    ([1], "expected a number"),
])  # fmt: skip
def test_a_wrong_type_in_a_numeric_column_is_422_naming_the_field(table_client, value, says):
    client, _, _ = table_client
    response = client.post("/predict", json={"rows": [{"a": 0.5, "b": 1.0, "colour": "red"},
                                                      {"a": value, "b": 1, "colour": "red"}]})  # fmt: skip
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "rows[1].a" and says in response.json()["error"]


def test_numbers_sent_as_text_and_missing_values_are_accepted(table_client):
    client, run, _ = table_client
    as_text = client.post("/predict", json={"rows": [{"a": "0.41", "b": " -1 ", "colour": "red"}]})
    as_numbers = client.post("/predict", json={"rows": [{"a": 0.41, "b": -1, "colour": "red"}]})
    assert as_text.status_code == 200 and as_text.json() == as_numbers.json()
    missing = client.post("/predict", json={"rows": [{"a": None, "b": "", "colour": "red"}]})
    assert missing.status_code == 200, missing.text
    # a category column takes any scalar: numbers there are category values
    assert (
        client.post("/predict", json={"rows": [{"a": 1, "b": 2, "colour": 3}]}).status_code == 200
    )


def test_an_uploaded_table_is_checked_like_json_rows(table_client):
    client, run, inputs = table_client
    good = inputs.head(3).to_csv(index=False).encode()
    ok = client.post("/predict", files={"file": ("rows.csv", good, "text/csv")})
    assert ok.status_code == 200, ok.text
    bad = inputs.head(3).astype({"b": object})
    bad.loc[bad.index[2], "b"] = "lots"
    refused = client.post("/predict", files={"file": ("rows.csv", bad.to_csv(index=False).encode(),
                                                      "text/csv")})  # fmt: skip
    assert refused.status_code == 422 and "row 3, column b" in refused.json()["error"]


@pytest.mark.parametrize("name", ["anomaly-detection", "forecasting"])
def test_rows_of_anomaly_and_forecasting_runs_are_typed_too(contract_run, client_of, name):
    run, _, inputs = contract_run(name)
    client = client_of(create_app(run.path))
    column = "sensor_0" if name == "anomaly-detection" else "y0"
    rows = json.loads(inputs.to_json(orient="records", date_format="iso"))
    rows[1][column] = "lots"
    response = client.post("/predict", json={"rows": rows})
    assert response.status_code == 422 and response.json()["field"] == f"rows[1].{column}"
    rows[1][column] = False
    assert client.post("/predict", json={"rows": rows}).json()["field"] == f"rows[1].{column}"


def test_observations_beyond_float32_are_422(contract_run, client_of):
    run, _, _ = contract_run("reinforcement-learning")
    client = client_of(create_app(run.path))
    response = client.post("/predict", json={"observation": [0.0, 1e300, 0.0, 0.0]})
    assert response.status_code == 422 and response.json()["field"] == "observation[1]"


@pytest.mark.parametrize("kind", ["text/plain", "application/x-www-form-urlencoded", None])
def test_json_needs_its_content_type(table_client, kind):
    """A page on another site can POST text/plain or a form without asking (no preflight)."""
    client, _, _ = table_client
    body = json.dumps({"rows": [{"a": 1, "b": 2, "colour": "red"}]})
    headers = {"content-type": kind} if kind else {}
    response = client.post("/predict", content=body, headers=headers)
    assert response.status_code == 415 and "application/json" in response.json()["error"]


def test_a_foreign_host_header_is_refused(table_client, contract_run):
    from fastapi.testclient import TestClient

    client, run, _ = table_client
    assert client.get("/health").status_code == 200  # Host: localhost
    for host in ("127.0.0.1:8000", "[::1]:8000", "LOCALHOST"):
        assert client.get("/health", headers={"host": host}).status_code == 200, host
    rebound = client.get("/info", headers={"host": "attacker.example:8000"})
    assert rebound.status_code == 400 and "--allowed-host" in rebound.json()["error"]
    named = TestClient(create_app(run.path, hosts=("models.example",)),
                       base_url="http://models.example")  # fmt: skip
    assert named.get("/health").status_code == 200
    assert named.get("/health", headers={"host": "localhost"}).status_code == 400
    anyone = TestClient(create_app(run.path, hosts=("*",)), base_url="http://whatever.example")
    assert anyone.get("/health").status_code == 200


def test_allowed_hosts_follow_the_bound_address():
    from layerwise.serve.server import allowed_hosts

    loopback = ("localhost", "127.0.0.1", "[::1]")
    assert allowed_hosts("127.0.0.1", []) == loopback
    assert set(allowed_hosts("::1", [])) == set(loopback)
    assert allowed_hosts("localhost", ["Models.Example"]) == (*loopback, "models.example")
    assert allowed_hosts("10.0.0.5", []) == ("10.0.0.5",)
    assert allowed_hosts("0.0.0.0", []) == ("*",)  # documented: any name, with a warning
    assert allowed_hosts("0.0.0.0", ["models.example"]) == (*loopback, "models.example")
    assert allowed_hosts("10.0.0.5", ["*"]) == ("*",)


def test_the_page_and_answers_carry_security_headers(table_client):
    client, _, _ = table_client
    page = client.get("/")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0]
    assert f'<script nonce="{nonce}">' in page.text and f'<style nonce="{nonce}">' in page.text
    assert "onsubmit=" not in page.text and 'style="' not in page.text  # blocked by the policy
    assert client.get("/").headers["content-security-policy"] != policy  # a nonce per response
    answer = client.post("/predict", json={"rows": [{"a": 1, "b": 2, "colour": "red"}]})
    for response in (page, answer, client.get("/info")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"


def test_no_docs_from_a_cdn_unless_asked(table_client):
    client, _, _ = table_client
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404
    assert "cdn" not in client.get("/").text.lower()
    assert "/predict" in client.get("/openapi.json").json()["paths"]


def test_serve_refuses_a_port_that_cannot_exist(cli, table_client):
    _, run, _ = table_client
    for port in ("99999", "0"):
        code, _, err = cli("serve", run.path, "--port", port)
        assert code == 2 and "--port" in err and len(err.strip().splitlines()) == 1, err


# ---- request heads and bodies that never finish: uvicorn in a thread, short timeouts ----------


@pytest.fixture(scope="module", params=["httptools", "h11"])
def slow_server(contract_run, request):
    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from layerwise.serve.server import GuardedProtocol, HeadLimits

    base = (
        GuardedProtocol
        if request.param == "httptools"
        else type("H11", (HeadLimits, H11Protocol), {})
    )

    class Quick(base):
        head_timeout_s = body_timeout_s = 0.25  # each exchange below waits one of these
        max_head_bytes = 4096

    run, _, _ = contract_run("tabular-classification")
    app = create_app(run.path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           http=Quick))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


def _exchange(port: int, *parts: bytes) -> bytes:
    """Send ``parts`` (a pause after each), then read until the server closes (or 10 s pass,
    which only a hanging server would reach: the test then fails on what was read)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        for part in parts:
            connection.sendall(part)
            time.sleep(0.05)
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return answer


def test_a_request_head_that_never_ends_is_closed(slow_server):
    answer = _exchange(slow_server, b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
    assert answer.startswith(b"HTTP/1.1 408")
    assert _exchange(slow_server) == b""  # a connection that sends nothing is closed too


def test_a_huge_request_head_is_431(slow_server):
    head = b"GET /health HTTP/1.1\r\nHost: localhost\r\n" + b"X-Pad: " + b"a" * 8000
    assert _exchange(slow_server, head).startswith(b"HTTP/1.1 431")


def test_a_body_that_trickles_is_408(slow_server):
    head = (b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n")  # fmt: skip
    answer = _exchange(slow_server, head + b'{"rows": ')
    assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive" in answer
    # and a complete request on a fresh connection is still served
    whole = json.dumps({"rows": [{"a": 1, "b": 2, "colour": "red"}]}).encode()
    ok = _exchange(slow_server, head.replace(b"100", str(len(whole)).encode()) + whole)
    assert ok.startswith(b"HTTP/1.1 200")


def test_frames_of_checked_rows_keep_numbers_as_numbers():
    from layerwise.serve.inputs import read_rows

    rows = read_rows({"rows": [{"a": "41", "b": None}, {"a": 2, "b": "x"}]}, Limits(),
                     {"a": "numeric", "b": "categorical"}).value()  # fmt: skip
    assert pd.api.types.is_numeric_dtype(rows["a"]) and rows["a"].tolist() == [41.0, 2]
