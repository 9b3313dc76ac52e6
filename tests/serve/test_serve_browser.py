"""The web page in a real headless browser (Playwright driving the system's Chromium): fill the
form, press Predict, read the prediction the page shows. Skipped when no browser is installed
(.ci/run installs Debian's chromium when it can)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time

import pytest

import layerwise

pytestmark = pytest.mark.usefixtures("one_torch_thread")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser_path() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    path = browser_path()
    if path is None:
        pytest.skip("no Chromium installed (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=path, headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        yield launched
        launched.close()


def serve_in_thread(run_path, token=None):
    import uvicorn

    from layerwise.serve.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(run_path, token=token), host="127.0.0.1",
                                           port=port, log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}/"


@contextlib.contextmanager
def upload_and_predict(browser, run_path, file, shown: str):
    """The served run's page with ``file`` chosen and Predict pressed, once ``shown`` appears."""
    server, url = serve_in_thread(run_path)
    try:
        page = browser.new_page()
        page.goto(url)
        page.set_input_files("#file", str(file))
        page.click("#predict")
        page.wait_for_selector(shown, timeout=10_000)
        yield page
    finally:
        server.should_exit = True


def test_the_page_predicts_a_row_typed_into_its_form(browser, tmp_path):
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    run = layerwise.fit(frame, target="target", candidates=["linear"], output_dir=str(tmp_path),
                        verbose=False, report=False)  # fmt: skip
    row = frame.drop(columns=["target"]).iloc[[100]]
    expected = run.predict(row)["prediction"].iloc[0]
    server, url = serve_in_thread(run.path)
    try:
        page = browser.new_page()
        console: list[str] = []  # the browser reports what the Content-Security-Policy blocks
        page.on("console", lambda message: console.append(message.text))
        page.goto(url)
        for column, value in row.iloc[0].items():
            page.fill(f"[id='{column}']", str(value))
        page.click("#predict")
        page.wait_for_selector("#prediction", timeout=10_000)
        assert page.inner_text("#prediction") == expected
        assert "%" in page.inner_text("#result")  # the probability bars, drawn to their width
        assert page.eval_on_selector(".bar div", "d => d.style.width").endswith("%")
        assert not [m for m in console if "Content Security Policy" in m], console
        page.fill("[id='alcohol']", "")  # an empty field is sent as missing, not as an error
        page.click("#predict")
        page.wait_for_selector("#prediction", timeout=10_000)
    finally:
        server.should_exit = True


def test_the_page_uploads_an_image(browser, tmp_path):
    import numpy as np
    from PIL import Image

    from layerwise.data.image_sources import digits

    images = digits()
    run = layerwise.fit(images, task="image-classification", candidates=["pixel-logistic"],
                        output_dir=str(tmp_path), verbose=False, report=False)  # fmt: skip
    first = images.images[5]
    first = first[..., 0] if first.ndim == 3 else first
    Image.fromarray(first).save(tmp_path / "digit.png")
    expected = run.predict(np.stack([first]))["prediction"].iloc[0]
    with upload_and_predict(browser, run.path, tmp_path / "digit.png", "#prediction") as page:
        assert page.inner_text("#prediction") == str(expected)


def test_the_page_draws_a_forecast_from_an_uploaded_history(browser, contract_run, tmp_path):
    run, _, history = contract_run("forecasting")
    history.to_csv(tmp_path / "history.csv", index=False)
    columns = sorted(set(run.predict(history)["column"]))
    with upload_and_predict(browser, run.path, tmp_path / "history.csv", "svg.forecast") as page:
        assert page.locator("svg.forecast").count() == len(columns)
        assert page.locator("svg.forecast polyline").first.get_attribute("points").count(",") > 1
        assert columns[0] in page.inner_text("#result")


def test_the_page_draws_boxes_over_an_uploaded_photo(browser, contract_run, tmp_path):
    from PIL import Image

    run, _, scenes = contract_run("object-detection")
    Image.fromarray(scenes.images[0]).save(tmp_path / "scene.png")
    found = run.task.predict(str(tmp_path / "scene.png"))
    with upload_and_predict(browser, run.path, tmp_path / "scene.png", "svg.boxes") as page:
        assert page.locator("svg.boxes image").count() == 1
        assert page.locator("svg.boxes rect").count() == len(found)


def test_the_page_answers_texts_typed_into_its_box(browser, contract_run):
    run, _, texts = contract_run("text-to-text")
    expected = run.predict(list(texts[:2]))["output"].tolist()
    server, url = serve_in_thread(run.path)
    try:
        page = browser.new_page()
        page.goto(url)
        page.fill("#text", "\n".join(texts[:2]) + "\n\n")  # one text a line; blank lines skipped
        page.click("#predict")
        page.wait_for_selector("#prediction", timeout=10_000)
        shown = page.locator("#prediction").all_inner_texts()
        assert shown == expected
    finally:
        server.should_exit = True
