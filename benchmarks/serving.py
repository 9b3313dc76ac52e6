"""Serving benchmark: `layerwise serve` under load on loopback, for a tabular run and an
image-classification run, then 10x overload, then generated malformed requests.

Load: requests/s, p50/p99 latency and errors at 1, 8 and 32 concurrent clients (keep-alive
connections on raw asyncio streams, see _http_load.py), 10,000 requests each (2,000 with --quick), single-row tabular JSON or one PNG upload.
Target for single-row tabular: >= 300 requests/s at 8 clients, p99 < 50 ms, 0 errors.
Overload: 10x the server's concurrency limit of clients for a fixed number of requests: the share
answered 503, any other errors (target: none), and the time until a lone request is served again.
Fuzz: hypothesis-generated malformed bodies to /predict, /info and /health: every one a 4xx with
a message, no 5xx.

    python benchmarks/serving.py            # results/serving.md
    python benchmarks/serving.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, markdown_table, progress, write_result
from _http_load import load, prepare

PACKAGES = ("layerwise", "fastapi", "uvicorn", "httpx", "hypothesis")
MAX_CONCURRENCY = 4  # predictions at once; with the server's queue of 28, 32 requests in flight
CAPACITY = 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "layerwise.cli.main", "serve", run, "--port", str(port),
               "--max-concurrency", str(MAX_CONCURRENCY)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    import httpx

    for _ in range(300):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(
        "the server did not start: " + (server.stderr.read() if server.stderr else "")
    )


def recovery(port: int, request: bytes) -> float:
    """Seconds from the end of the overload until a lone request is answered 200."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 30:
        if asyncio.run(load("127.0.0.1", port, request, 1, 1))["statuses"].get(200):
            return time.perf_counter() - t0
    return float("nan")


def tabular_run(out: str) -> tuple[str, dict]:
    from sklearn.datasets import load_breast_cancer

    import layerwise

    frame = load_breast_cancer(as_frame=True).frame
    run = layerwise.fit(frame, target="target", output_dir=out, verbose=False, report=False,
                        time_limit=60)  # fmt: skip
    row = frame.drop(columns=["target"]).iloc[0].to_dict()
    return str(run.path), {"json_body": {"rows": [row]}}


def image_run(out: str) -> tuple[str, dict]:
    from PIL import Image

    import layerwise
    from layerwise.data.image_sources import digits

    images = digits()
    run = layerwise.fit(images, task="image-classification", output_dir=out, verbose=False,
                        report=False, time_limit=60)  # fmt: skip
    buffer = io.BytesIO()
    first = images.images[0]
    Image.fromarray(first[..., 0] if first.ndim == 3 else first).save(buffer, format="PNG")
    return str(run.path), {"file": ("digit.png", buffer.getvalue(), "image/png")}


def fuzz(run: str, examples: int) -> dict:
    """Malformed requests in process (the same app); counts of status codes."""
    from fastapi.testclient import TestClient
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from layerwise.serve.app import create_app

    # the app answers to the names it serves under: the test client's default 'testserver' is not
    client = TestClient(create_app(run), raise_server_exceptions=False, base_url="http://localhost")
    counts: dict[int, int] = {}
    silent = []
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=10)  # fmt: skip
    bodies = st.one_of(
        st.binary(max_size=200),
        values.map(lambda v: json.dumps(v).encode()),
        st.dictionaries(st.sampled_from(["rows", "row", "image", "images", "texts"]), values,
                        max_size=3).map(lambda v: json.dumps(v).encode()),
        st.lists(st.dictionaries(st.text(max_size=12), scalars, max_size=5), max_size=4).map(
            lambda rows: json.dumps({"rows": rows}).encode()),
    )  # fmt: skip

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies, path=st.sampled_from(["/predict", "/predict", "/predict", "/info", "/health"]),
           kind=st.sampled_from(["application/json", "text/plain", "multipart/form-data"]))  # fmt: skip
    def one(body: bytes, path: str, kind: str) -> None:
        response = client.post(path, content=body, headers={"content-type": kind})
        counts[response.status_code] = counts.get(response.status_code, 0) + 1
        ok = response.status_code == 200
        has_message = response.headers.get("content-type", "").startswith("application/json") and (
            "error" in response.json() or "detail" in response.json()
        )
        if not ok and not has_message:
            silent.append(response.status_code)

    one()
    return {"counts": counts, "no_message": len(silent)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    total = 2000 if args.quick else 10_000
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in (("tabular", tabular_run), ("image", image_run)):
            progress(f"training the {name} run ...")
            run, body = build(tmp)
            chosen = json.loads(open(os.path.join(run, "metrics.json")).read()).get("chosen")
            notes.append(f"- {name} run: the served model is `{chosen}`.")
            server, url = start_server(run)
            port = int(url.rsplit(":", 1)[1])
            request = prepare(f"127.0.0.1:{port}", "/predict", **body)
            try:
                for clients in (1, 8, 32):
                    r = asyncio.run(load("127.0.0.1", port, request, clients, total))
                    errors = sum(v for k, v in r["statuses"].items() if k != 200)
                    rows.append([name, clients, total, f"{r['rps']:.0f}", f"{r['p50']:.1f}",
                                 f"{r['p99']:.1f}", errors])  # fmt: skip
                    progress(str(rows[-1]))
                over = asyncio.run(load("127.0.0.1", port, request, 10 * CAPACITY, total))
                busy, served = over["statuses"].get(503, 0), over["statuses"].get(200, 0)
                other = sum(v for k, v in over["statuses"].items() if k not in (200, 503))
                back = recovery(port, request)
                notes.append(f"- {name}, {10 * CAPACITY} clients (10x the {CAPACITY} requests it "
                             f"takes in at once) retrying at once, {total:,} requests: "
                             f"{busy / total:.1%} answered 503 (p99 of all answers "
                             f"{over['p99']:.1f} ms), {other} other errors, {served:,} served "
                             f"({served / over['wall']:.0f}/s); a lone request was served again "
                             f"{back * 1e3:.0f} ms after.")  # fmt: skip
                progress(notes[-1])
            finally:
                server.terminate()
                server.wait(10)
            if name == "tabular":
                fuzzed = fuzz(run, 300 if not args.quick else 200)
                fives = sum(v for k, v in fuzzed["counts"].items() if k >= 500)
                notes.append(f"- fuzz: {sum(fuzzed['counts'].values())} generated requests, status "
                             f"counts {dict(sorted(fuzzed['counts'].items()))}: {fives} 5xx, "
                             f"{fuzzed['no_message']} without a message.")  # fmt: skip
                progress(notes[-1])
    tab8 = next(r for r in rows if r[0] == "tabular" and r[1] == 8)
    met = float(tab8[3]) >= 300 and float(tab8[5]) < 50 and tab8[6] == 0
    text = "\n".join([
        header("Serving: layerwise serve on loopback", PACKAGES),
        "One uvicorn worker (OMP_NUM_THREADS=1) and the load generator (keep-alive connections "
        "on raw asyncio streams, one process) share the machine's cores. Tabular: breast-cancer run with defaults, one row per "
        "request as JSON; image: digits run with defaults, one PNG per request (multipart).",
        "", markdown_table(["run", "clients", "requests", "requests/s", "p50 ms", "p99 ms",
                            "errors"], rows), "", *notes, "",
        f"- Target (tabular, 8 clients: >= 300 requests/s, p99 < 50 ms, 0 errors): "
        f"{'met' if met else 'not met'}.",
    ])  # fmt: skip
    path = write_result("serving", text, args.quick)
    print(text)
    progress(f"wrote {path}")


if __name__ == "__main__":
    main()
