"""layerwise serve RUN [--host 127.0.0.1] [--port 8000] [--token-file token.txt] [--workers 1]
[--allowed-host NAME ...] [--docs]"""

from __future__ import annotations

import os
from typing import Optional

import typer

ENV_RUN, ENV_TOKEN, ENV_CONCURRENCY, ENV_HOSTS, ENV_DOCS = (
    "LAYERWISE_SERVE_RUN",
    "LAYERWISE_SERVE_TOKEN",
    "LAYERWISE_SERVE_CONCURRENCY",
    "LAYERWISE_SERVE_HOSTS",
    "LAYERWISE_SERVE_DOCS",
)


def serve(
    run_dir: str = typer.Argument(..., help="A run folder written by `layerwise train`."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind [127.0.0.1: this machine only]."
    ),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    token_file: Optional[str] = typer.Option(
        None, "--token-file", help="A file holding the bearer token clients must send."
    ),
    workers: int = typer.Option(1, "--workers", help="Server processes (each loads the run)."),
    max_concurrency: int = typer.Option(
        4, "--max-concurrency", help="Predictions at once per process (28 more may wait; then 503)."
    ),
    allowed_host: Optional[list[str]] = typer.Option(
        None,
        "--allowed-host",
        help="A name clients reach the server by (the Host header), besides the bound address; "
        "repeat for several, '*' for any. Bound to 0.0.0.0 without it, any name is answered.",
    ),
    docs: bool = typer.Option(
        False, "--docs", help="Serve Swagger UI at /docs (it loads from a CDN; off by default)."
    ),
) -> None:
    """Serve a run over HTTP: /predict, /info, /health, a web page at / and /openapi.json."""
    from layerwise.cli.common import err
    from layerwise.errors import ConfigError
    from layerwise.runs.folder import RunFolder

    RunFolder.open(run_dir)  # a missing, changed or unfinished run stops here with one line
    token = None
    if token_file is not None:
        try:
            token = open(token_file, encoding="utf-8").read().strip()
        except OSError as exc:
            raise ConfigError(f"Cannot read --token-file {token_file}: {exc.strerror}.",
                              "Give a file holding the token.") from exc  # fmt: skip
        if len(token) < 16:
            raise ConfigError("The token is shorter than 16 characters.",
                              "Use a long random token, e.g. `openssl rand -hex 32`.")  # fmt: skip
    if workers < 1 or max_concurrency < 1:
        raise ConfigError("--workers and --max-concurrency must be 1 or more.", "Use e.g. 1 and 8.")
    if not 1 <= port <= 65535:  # uvicorn would wait for ever on a port that cannot exist
        raise ConfigError(f"--port {port} is not a TCP port.", "Give a port from 1 to 65535.")
    from layerwise.serve import server

    hosts = server.allowed_hosts(host, list(allowed_host or []))
    if host not in ("127.0.0.1", "localhost", "::1") and token is None:
        err.print(
            f"warning: serving on {host} without a token: anyone who can reach it can predict."
        )
    if hosts == ("*",):
        err.print("warning: any Host header is answered; name the server's with --allowed-host.")
    os.environ[ENV_RUN] = os.path.abspath(run_dir)
    os.environ[ENV_CONCURRENCY] = str(max_concurrency)
    os.environ[ENV_HOSTS] = ",".join(hosts)
    os.environ[ENV_DOCS] = "1" if docs else ""
    if token is not None:
        os.environ[ENV_TOKEN] = token
    where = "/docs" if docs else "/openapi.json"
    err.print(f"Serving {run_dir} at http://{host}:{port}/ (API at {where}); Ctrl+C stops.")
    server.run("layerwise.cli.serve:app_from_environment", host, port, workers)


def app_from_environment():
    """The app of the run named in the environment (each uvicorn worker builds its own)."""
    import gc

    from layerwise.serve.app import create_app
    from layerwise.serve.guard import LOOPBACK_HOSTS
    from layerwise.serve.images import set_pillow_limits
    from layerwise.serve.inputs import Limits

    limits = Limits(max_concurrency=int(os.environ.get(ENV_CONCURRENCY, "4")))
    set_pillow_limits(limits)  # this process only serves: Pillow's global limit is the server's
    hosts = tuple(os.environ.get(ENV_HOSTS, "").split(",")) if os.environ.get(ENV_HOSTS) else None
    app = create_app(os.environ[ENV_RUN], token=os.environ.get(ENV_TOKEN), limits=limits,
                     hosts=hosts or LOOPBACK_HOSTS, docs=bool(os.environ.get(ENV_DOCS)))  # fmt: skip
    # The model, torch and pandas stay loaded for the server's life: keep their objects out of
    # the cyclic collector's scans, which otherwise walk them all on each full collection
    # mid-request (measured: 8 clients 357 requests/s with this, 314 without; p99 30 vs 32 ms).
    gc.collect()
    gc.freeze()
    return app
