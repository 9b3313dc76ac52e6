"""SASRec on a planted sequential pattern: users walk through cycles of items, so the next
item is fully determined by the last one, which popularity cannot know."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerwise.models.sasrec import SASRec, SASRecConfig
from layerwise.runs.folder import RunFolder
from layerwise.tasks.recommendation.base import Interactions
from layerwise.tasks.recommendation.metrics import evaluate_ranking
from layerwise.tasks.recommendation.sequential import SASRecRanker, left_padded, training_windows

N_USERS, N_ITEMS, CYCLE = 120, 40, 8  # 5 cycles of 8 items: i -> next in its cycle
FAST = {"epochs": 25, "max_len": 10, "dim": 16, "layers": 1, "dropout": 0.0, "lr": 1e-2,
        "batch_size": 64, "device": "cpu"}  # fmt: skip


def walks(seed: int = 0) -> list[np.ndarray]:
    """Each user starts somewhere and follows the cycle for 6 to 12 items (no repeats)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(N_USERS):
        start = int(rng.integers(N_ITEMS))
        base, offset = start - start % CYCLE, start % CYCLE
        length = int(rng.integers(6, CYCLE + 1))
        out.append(base + (offset + np.arange(length)) % CYCLE)
    return out


def interactions(histories: list[np.ndarray]) -> Interactions:
    users = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
    return Interactions(len(histories), N_ITEMS, users, np.concatenate(histories))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def split() -> dict[str, object]:
    full = walks()
    train_h = [h[:-2] for h in full]
    return {
        "train": interactions(train_h),
        "train_h": train_h,
        "val": [h[-2:-1] for h in full],
        "test_h": [h[:-1] for h in full],
        "test": [h[-1:] for h in full],
    }


@pytest.fixture(scope="module")
def fitted(split) -> SASRecRanker:
    ranker = SASRecRanker(seed=0, **FAST)
    ranker.fit(split["train"], val=(np.arange(N_USERS), split["val"]))
    return ranker


def test_learns_the_next_item_far_better_than_popularity(fitted, split):
    users = np.arange(N_USERS)
    ours, _ = evaluate_ranking(fitted.score, users, split["test_h"], split["test"], N_ITEMS)
    counts = split["train"].item_counts().astype(np.float32)
    popular = lambda u, h: np.tile(counts, (len(u), 1))  # noqa: E731
    baseline, _ = evaluate_ranking(popular, users, split["test_h"], split["test"], N_ITEMS)
    assert ours["ndcg@10"] > 0.8
    assert ours["ndcg@10"] > baseline["ndcg@10"] + 0.4


def test_history_records_validation_ndcg(fitted):
    assert "val_ndcg@10" in fitted.history[0]
    assert fitted.history.best["val_ndcg@10"] > 0.5


def test_padding_does_not_change_the_output():
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(n_items=30, max_len=12, dim=16)).eval()
    pad = model.config.pad
    items = torch.tensor([[4, 9, 2, 7]])
    with torch.no_grad():
        short = model(items)[:, -1]
        for width in (6, 12):
            padded = torch.cat([torch.full((1, width - 4), pad), items], dim=1)
            hidden = model(padded)
            assert torch.isfinite(hidden).all()  # padded rows too: no empty attention row
            torch.testing.assert_close(hidden[:, -1], short)


def test_histories_longer_than_max_len_use_their_last_items(fitted):
    long = np.arange(25) % N_ITEMS
    tail = long[-FAST["max_len"] :]
    scores = fitted.score(np.array([-1, -1]), [long, tail])
    np.testing.assert_array_equal(scores[0], scores[1])


def test_unknown_user_scores_like_a_known_user_with_that_history(fitted, split):
    history = split["test_h"][3]
    scores = fitted.score(np.array([3, -1]), [history, history])
    np.testing.assert_array_equal(scores[0], scores[1])


def test_empty_history_gives_a_finite_popularity_row(fitted, split):
    scores = fitted.score(np.array([-1]), [np.zeros(0, dtype=np.int64)])
    assert scores.shape == (1, N_ITEMS) and scores.dtype == np.float32
    assert np.isfinite(scores).all()
    counts = split["train"].item_counts()
    assert scores[0, counts.argmax()] == scores.max()


def test_save_load_reproduces_scores(fitted, split, tmp_path):
    run = RunFolder.create(tmp_path, "recommendation")
    info = fitted.save(run, "sasrec")
    loaded = SASRecRanker.load(run, info)
    users = np.r_[np.arange(10), -1]
    histories = [*split["test_h"][:10], np.zeros(0, dtype=np.int64)]
    np.testing.assert_array_equal(loaded.score(users, histories), fitted.score(users, histories))
    assert info["architecture"]["n_items"] == N_ITEMS


def test_same_seed_same_scores(split):
    params = {**FAST, "epochs": 2}
    a, b = SASRecRanker(seed=3, **params), SASRecRanker(seed=3, **params)
    a.fit(split["train"])
    b.fit(split["train"])
    histories = split["test_h"][:5]
    np.testing.assert_array_equal(a.score(np.arange(5), histories),
                                  b.score(np.arange(5), histories))  # fmt: skip


def test_training_windows_cover_each_target_once():
    history = np.arange(12)
    seqs = training_windows([history, np.array([5])], max_len=4, pad=99, windows=10)
    targets = seqs[:, 1:][seqs[:, :-1] != 99]  # positions with a real input
    assert sorted(targets.tolist()) == list(range(1, 12))
    assert left_padded([np.zeros(0, dtype=np.int64)], 3, pad=99).tolist() == [[99, 99, 99]]


def test_sampled_softmax_path_trains(split, monkeypatch):
    import layerwise.tasks.recommendation.sequential as module

    monkeypatch.setattr(module, "FULL_SOFTMAX_ITEMS", 10)
    ranker = SASRecRanker(seed=0, **{**FAST, "epochs": 2, "negatives": 16})
    ranker.fit(split["train"])
    assert np.isfinite(ranker.history[-1]["train_loss"])
