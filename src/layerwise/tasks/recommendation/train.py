"""How the deep recommenders use the one training engine: ``RankingTrainer`` overrides
``train_step`` with the candidate's own loss (BPR, sampled BCE, next-item cross-entropy; the
negatives are drawn on tensors inside that loss) and measures validation by full-ranking
NDCG@10 instead of a loss, so early stopping and the best-epoch restore follow the metric the
bake-off is decided by.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from layerwise.engine import Trainer, TrainerConfig
from layerwise.tasks.recommendation.metrics import evaluate_ranking

MONITOR = "val_ndcg@10"
VAL_USERS = 2000  # validation users measured each epoch (a seeded sample when there are more)


class RankingTrainer(Trainer):
    """The engine with a candidate's loss and full-ranking validation.

    ``step_loss(model, batch) -> loss`` computes one training batch's loss (sampling its
    negatives); ``scorer(users, histories) -> [n, n_items]`` scores with the current model;
    ``validation`` is ``(users, histories, held)`` in the shape of
    :func:`~layerwise.tasks.recommendation.metrics.evaluate_ranking`.
    """

    # under DDP: the losses call the model's parts (item embeddings), not its forward, which one
    # DDP wrapper cannot follow, so the engine averages the gradients itself; each rank trains
    # on its shard of the interactions and draws its own negatives
    averages_gradients = True

    def __init__(
        self,
        model: torch.nn.Module,
        step_loss: Callable[[torch.nn.Module, tuple[Any, ...]], torch.Tensor],
        config: TrainerConfig,
        scorer: Callable[[np.ndarray, list[np.ndarray]], np.ndarray] | None = None,
        validation: tuple[np.ndarray, list[np.ndarray], list[np.ndarray]] | None = None,
        n_items: int = 0,
    ):
        super().__init__(model, lambda out, target: out, config)
        self.step_loss = step_loss
        self.scorer = scorer
        self.validation = _sample(validation, config.seed)
        self.n_items = n_items

    def train_step(self, batch: tuple[Any, ...]) -> dict[str, Any]:
        with self.autocast():
            loss = self.step_loss(self.model, batch)
        self.backward_step(loss)
        return {"loss": loss.detach()}

    def evaluate(self, data: Any) -> dict[str, float]:
        """``val_ndcg@10`` and ``val_hr@10`` on the validation users (``data`` is unused: the
        engine passes whatever ``val`` it was given)."""
        if self.scorer is None or self.validation is None:
            return {}
        users, histories, held = self.validation
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            metrics, _ = evaluate_ranking(self.scorer, users, histories, held, self.n_items)
        self.model.train(was_training)
        return {"val_ndcg@10": metrics["ndcg@10"], "val_hr@10": metrics["hr@10"]}

    def fit_ranking(self, train: tuple[torch.Tensor, ...]) -> Any:
        """``fit`` on training tensors, validating by NDCG@10 when there is a validation set.
        The training tuple's last tensor is passed to ``step_loss`` like the others."""
        val = None
        if self.scorer is not None and self.validation is not None:
            val = (torch.zeros(1),)  # a placeholder: evaluate() reads self.validation
        return self.fit(train, val=val)


def ranking_config(params: dict[str, Any], seed: int, **defaults: Any) -> TrainerConfig:
    """The engine's options for a deep recommender: ``defaults`` (epochs, batch_size, lr, ...)
    overridden by the user's ``params``; monitored by validation NDCG@10 (higher is better)."""
    keys = ("epochs", "batch_size", "lr", "weight_decay", "patience", "time_limit", "device",
            "checkpoint_dir", "resume", "progress", "cpu_threads", "optimizer", "schedule",
            "warmup_steps", "clip_grad_norm")  # fmt: skip
    options = {**defaults, **{k: params[k] for k in keys if k in params}}
    options.setdefault("patience", 5)
    return TrainerConfig(seed=seed, monitor=MONITOR, mode="max", **options)


def _sample(validation: Any, seed: int) -> Any:
    if validation is None or len(validation[0]) <= VAL_USERS:
        return validation
    users, histories, held = validation
    pick = np.sort(np.random.default_rng(seed).choice(len(users), VAL_USERS, replace=False))
    return users[pick], [histories[i] for i in pick], [held[i] for i in pick]
