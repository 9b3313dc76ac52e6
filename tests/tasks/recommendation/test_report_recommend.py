import re

import numpy as np

from layerwise.runs.folder import RunFolder
from layerwise.runs.report import build_report
from layerwise.tasks.recommendation.report import PLOTS, hit_rates

TITLES = (
    "Where the held-out item ranked",
    "Scores of recommended items",
    "Popularity of what is recommended",
    "Example recommendations",
)


def _plots(seed=0, n_users=300, n_items=400):
    rng = np.random.default_rng(seed)
    catalogue = np.sort(rng.zipf(1.6, n_items).clip(0, 5000))[::-1].tolist()
    return {
        "chosen": "ease",
        "n_items": n_items,
        "test_ranks": {
            "ease": rng.geometric(0.05, n_users).clip(1, n_items).tolist(),
            "most-popular": rng.geometric(0.01, n_users).clip(1, n_items).tolist(),
            "sasrec": rng.geometric(0.08, n_users).clip(1, n_items).tolist(),
        },
        "scores": {
            "recommended": rng.normal(2, 0.5, 500).tolist(),
            "other": rng.normal(0, 0.7, 2000).tolist(),
        },
        "popularity": {"catalogue": catalogue, "recommended": catalogue[:40] * 10},
        "examples": [
            {
                "user": "196",
                "history": ["242", "302", "<script>alert(1)</script>"],
                "held": ["51"],
                "recommended": [
                    {"item": "51", "score": 1.234, "hit": True},
                    {"item": "<b>bold</b>", "score": 0.5, "hit": False},
                ],
            },
            {"user": "7", "history": [], "held": ["9"], "recommended": []},
        ],
    }


def _run(tmp_path, plots=None):
    run = RunFolder.create(tmp_path, "recommendation")
    run.write_json("metrics.json", {"task": "recommendation", "chosen": "ease"})
    if plots is not None:
        run.write_json(PLOTS, plots)
    return run


def test_recommendation_sections(tmp_path):
    page = build_report(_run(tmp_path, _plots())).read_text(encoding="utf-8")
    for title in TITLES:
        assert f"<h2>{title}</h2>" in page
    assert page.count('src="data:image/png;base64,') == 3
    assert "could not be drawn" not in page
    assert re.search(r"<b style=\"color:#2ca02c\">51 \(1\.23\)", page)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt; (0.50)" in page
    assert "of the recommendations are among the 10% most popular" in page


def test_missing_fields_leave_sections_out(tmp_path):
    plots = _plots()
    del plots["scores"], plots["examples"]
    page = build_report(_run(tmp_path, plots)).read_text(encoding="utf-8")
    assert TITLES[0] in page and TITLES[2] in page
    assert TITLES[1] not in page and TITLES[3] not in page


def test_run_without_the_file_still_builds(tmp_path):
    page = build_report(_run(tmp_path)).read_text(encoding="utf-8")
    assert "recommendation" in page
    for title in TITLES:
        assert title not in page


def test_broken_file_shows_a_note(tmp_path):
    run = _run(tmp_path)
    run.write_text(PLOTS, "{not json")
    page = build_report(run).read_text(encoding="utf-8")
    assert "could not be drawn" in page


def test_hit_rates():
    rates = hit_rates([1, 2, 2, 10], np.array([1, 2, 9, 10, 100]))
    np.testing.assert_allclose(rates, [0.25, 0.75, 0.75, 1.0, 1.0])
