"""The sequential candidate of the recommendation task: SASRec, trained by the engine.

SASRec reads a user's items in time order and scores every item as the next one. It is
trained with full-softmax cross-entropy over all items at every position (gSASRec, Petrov &
Macdonald 2023: far better than the paper's one-negative BCE), or with a sampled softmax
over shared uniform negatives when the catalogue is too large for that.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from layerwise.runs.folder import RunFolder
from layerwise.tasks.recommendation.base import Interactions, Recommender

FULL_SOFTMAX_ITEMS = 20000  # above this many items, the loss samples its negatives
SCORE_BATCH = 1024
# The engine's defaults (params override). On MovieLens-100k an epoch takes ~4.5 s on one CPU
# core and validation NDCG@10 still rose at epoch 15 (0.097) and peaked near 21 (0.107), so
# early stopping and the task's CPU time budget end training, not the epoch count. A constant
# lr beat cosine decay over so few epochs. One CPU thread: with two, a training sharing the
# machine with another ran six times slower per step.
TRAINING = {"epochs": 40, "batch_size": 128, "lr": 3e-3, "schedule": "constant",
            "cpu_threads": 1, "progress": False}  # fmt: skip
COUNTS_KEY = "_item_counts"  # stored beside the weights for the empty-history row


class SASRecRanker(Recommender):
    """SASRec: a causal Transformer over each user's last ``max_len`` items.

    Training sequences are the user's history cut into windows of ``max_len + 1`` items from
    the newest backwards (at most ``windows`` per user, shorter ones left-padded); each
    window's first ``max_len`` items predict the next (the loss is taken where both the input
    and the target are items). Users with fewer than two items teach nothing and are left
    out. Scoring encodes the last ``max_len`` items of the history given, so a user never
    seen (index -1) is scored from their history alone. An empty history gets the training
    popularity (``log(1 + count)``) as its row.

    Params: max_len (50), dim (64), heads (2), layers (2), dropout (0.2), windows (4),
    negatives (256, sampled softmax only), epochs (40), batch_size (128), lr (3e-3),
    schedule ("constant"), weight_decay (0), patience (5), time_limit, device,
    checkpoint_dir, resume, progress, cpu_threads (1). Validation (``val``) is the
    full-ranking NDCG@10 of the validation users from their training histories; training
    stops early on it and keeps its best epoch.

    Example:
        >>> train = Interactions(3, 4, np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 2, 2]))
        >>> ranker = SASRecRanker(epochs=1, dim=8, progress=False, device="cpu")
        >>> ranker.fit(train)
        >>> ranker.score(np.array([-1]), [np.array([0, 1])]).shape
        (1, 4)
    """

    name: ClassVar[str] = "sasrec"
    family: ClassVar[str] = "deep"
    complexity: ClassVar[int] = 4
    description: ClassVar[str] = "SASRec: causal self-attention over the item sequence"
    needs_time: ClassVar[bool] = True
    model: Any = None
    item_counts: np.ndarray | None = None

    def _architecture(self, n_items: int) -> Any:
        from layerwise.models.sasrec import SASRecConfig

        p = self.params
        return SASRecConfig(
            n_items=n_items,
            max_len=int(p.get("max_len", 50)),
            dim=int(p.get("dim", 64)),
            heads=int(p.get("heads", 2)),
            layers=int(p.get("layers", 2)),
            dropout=float(p.get("dropout", 0.2)),
        )

    def fit(
        self, train: Interactions, val: tuple[np.ndarray, list[np.ndarray]] | None = None
    ) -> None:
        import torch

        from layerwise.models.sasrec import SASRec
        from layerwise.tasks.recommendation.train import RankingTrainer, ranking_config

        self.n_items = train.n_items
        self.item_counts = train.item_counts().astype(np.int64)
        config = self._architecture(train.n_items)
        histories = train.histories()
        windows = int(self.params.get("windows", 4))
        seqs = training_windows(histories, config.max_len, config.pad, windows)
        if len(seqs) == 0:
            seqs = np.full((1, config.max_len + 1), config.pad, dtype=np.int64)
        data = torch.from_numpy(seqs)
        torch.manual_seed(self.seed)
        self.model = SASRec(config)
        validation = None
        if val is not None and len(val[0]):
            users = np.asarray(val[0], dtype=np.int64)
            validation = (users, [histories[u] for u in users], list(val[1]))
        trainer = RankingTrainer(
            self.model,
            self._loss(config.n_items),
            ranking_config(self.params, self.seed, **TRAINING),
            scorer=lambda users, hist: self._scores(hist),
            validation=validation,
            n_items=train.n_items,
        )
        self.history = trainer.fit_ranking((data[:, :-1], data[:, 1:]))
        self.model = trainer.model.to("cpu").eval()

    def _loss(self, n_items: int) -> Any:
        """``step_loss(model, (inputs, targets))``: full or sampled softmax cross-entropy."""
        negatives = int(self.params.get("negatives", 256))
        sampled = n_items > FULL_SOFTMAX_ITEMS

        def step_loss(model: Any, batch: tuple[Any, ...]) -> Any:
            inputs, targets = batch
            pad = model.config.pad
            hidden = model(inputs)
            keep = (targets != pad) & (inputs != pad)
            hidden, targets = hidden[keep], targets[keep]
            if sampled:
                return sampled_softmax_loss(model, hidden, targets, negatives)
            return full_softmax_loss(model, hidden, targets)

        return step_loss

    def _scores(self, histories: list[np.ndarray]) -> np.ndarray:
        """The current model's next-item scores for each history (float32 ``[n, n_items]``)."""
        import torch

        config = self.model.config
        device = next(self.model.parameters()).device
        out = np.empty((len(histories), config.n_items), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, len(histories), SCORE_BATCH):
                part = histories[start : start + SCORE_BATCH]
                seq = torch.from_numpy(left_padded(part, config.max_len, config.pad))
                hidden = self.model(seq.to(device))[:, -1]
                out[start : start + len(part)] = self.model.item_scores(hidden).float().cpu()
        empty = [j for j, h in enumerate(histories) if len(h) == 0]
        if empty:
            out[empty] = np.log1p(self.item_counts).astype(np.float32)
        return out

    def score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("The sasrec recommender is not fitted: call fit() first.")
        self.model.eval()
        known = [np.asarray(h, dtype=np.int64) for h in histories]
        known = [h[(h >= 0) & (h < self.n_items)] for h in known]
        return self._scores(known)

    def save(self, run: RunFolder, prefix: str) -> dict[str, Any]:
        import torch

        from layerwise.engine.checkpoint import save_weights

        file = f"{prefix}.safetensors"
        tensors = dict(self.model.state_dict())
        tensors[COUNTS_KEY] = torch.from_numpy(self.item_counts)
        save_weights(run.file(file), tensors)
        return {
            "file": file,
            "architecture": self.model.config.to_dict(),
            "name": self.name,
            "seed": self.seed,
        }

    @classmethod
    def load(cls, run: RunFolder, info: dict[str, Any]) -> SASRecRanker:
        from layerwise.models.sasrec import SASRec, SASRecConfig
        from layerwise.runs.weights import config_from, read_tensors, restore_module

        config = config_from(SASRecConfig, info["architecture"], run)
        params = {k: v for k, v in config.to_dict().items() if k != "n_items"}
        ranker = cls(seed=info.get("seed", 0), **params)
        tensors = read_tensors(run, info["file"])
        counts = tensors.pop(COUNTS_KEY, None)
        if counts is None or list(counts.shape) != [config.n_items]:
            from layerwise.errors import RunFolderError

            raise RunFolderError(f"'{info['file']}' in '{run.path}' has no item counts for its "
                                 f"{config.n_items} items.", "Train again.")  # fmt: skip
        ranker.item_counts = counts.numpy().astype(np.int64)
        ranker.model = restore_module(run, info["file"], lambda: SASRec(config), tensors).eval()
        ranker.n_items = config.n_items
        return ranker


def left_padded(histories: list[np.ndarray], length: int, pad: int) -> np.ndarray:
    """``[n, length]`` int64: the last ``length`` items of each history, left-padded.

    Example:
        >>> left_padded([np.array([1, 2, 3]), np.array([4])], 2, pad=9).tolist()
        [[2, 3], [9, 4]]
    """
    out = np.full((len(histories), length), pad, dtype=np.int64)
    for j, history in enumerate(histories):
        tail = history[-length:] if len(history) else history
        if len(tail):
            out[j, length - len(tail) :] = tail
    return out


def training_windows(
    histories: list[np.ndarray], max_len: int, pad: int, windows: int
) -> np.ndarray:
    """``[n, max_len + 1]`` training sequences: each history of two items or more cut into
    windows of ``max_len + 1`` from the end, consecutive windows sharing one item (so every
    item but the first is a target exactly once), at most ``windows`` per history.

    Example:
        >>> training_windows([np.arange(6), np.array([7])], 3, pad=9, windows=2).tolist()
        [[2, 3, 4, 5], [9, 0, 1, 2]]
    """
    pieces = []
    for history in histories:
        end = len(history)
        for _ in range(max(windows, 1)):
            if end < 2:
                break
            pieces.append(history[max(0, end - max_len - 1) : end])
            end = max(0, end - max_len)
    return left_padded(pieces, max_len + 1, pad)


def full_softmax_loss(model: Any, hidden: Any, targets: Any) -> Any:
    """Cross-entropy of the target item among all items, for hidden states ``[n, dim]``."""
    from layerwise.models.sasrec import softmax_cross_entropy

    return softmax_cross_entropy(hidden, model.item_embeddings(), targets)


def sampled_softmax_loss(model: Any, hidden: Any, targets: Any, negatives: int) -> Any:
    """Cross-entropy of the target against ``negatives`` uniform items shared by the batch
    (a negative that is the target itself is masked out)."""
    import torch
    import torch.nn.functional as F

    items = model.item_embeddings()
    drawn = torch.randint(0, len(items), (negatives,), device=hidden.device)
    positive = (hidden * items[targets]).sum(-1, keepdim=True)
    negative = (hidden @ items[drawn].T).masked_fill(targets[:, None] == drawn[None], float("-inf"))
    logits = torch.cat([positive, negative], dim=1).float()
    return F.cross_entropy(
        logits, torch.zeros(len(targets), dtype=torch.long, device=hidden.device)
    )
