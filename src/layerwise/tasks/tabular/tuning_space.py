"""What ``--tune`` searches for each family (:mod:`.tuning` runs the search): the tuned
candidates, which are their families' classes under another name (loading one needs nothing of
the search), each family's space as Optuna distributions, a point of a space as the
candidate's parameters, and the untuned configuration as a point of its space.
"""

from __future__ import annotations

from typing import Any, ClassVar

from layerwise.candidates.linear import LinearCandidate
from layerwise.tasks.tabular.catboost_model import CatBoostCandidate
from layerwise.tasks.tabular.lightgbm_model import LightGBMCandidate
from layerwise.tasks.tabular.mlp import DEFAULTS, MLPCandidate, plain_dropout


class TunedLightGBM(LightGBMCandidate):
    """LightGBM with the parameters ``--tune`` found (``candidate_params["lightgbm-tuned"]``)."""

    name: ClassVar[str] = "lightgbm-tuned"
    complexity: ClassVar[float] = 2.5  # half a step above its family: see tuning.py
    description: ClassVar[str] = "LightGBM with tuned hyperparameters"


class TunedCatBoost(CatBoostCandidate):
    name: ClassVar[str] = "catboost-tuned"
    complexity: ClassVar[float] = 2.5
    description: ClassVar[str] = "CatBoost with tuned hyperparameters"


class TunedMLP(MLPCandidate):
    name: ClassVar[str] = "mlp-tuned"
    time_capped: ClassVar[bool] = True  # as the MLP: its final fit shares the time left
    complexity: ClassVar[float] = 3.5
    description: ClassVar[str] = "MLP with tuned width, depth, dropout and optimiser"


class TunedLinear(LinearCandidate):
    name: ClassVar[str] = "linear-tuned"
    complexity: ClassVar[float] = 1.5
    description: ClassVar[str] = "logistic / ridge regression with a tuned strength"


def distributions(base: str, classification: bool) -> dict[str, Any]:
    """The search space of family ``base``, as Optuna distributions."""
    from optuna.distributions import CategoricalDistribution as Choice
    from optuna.distributions import FloatDistribution as Real
    from optuna.distributions import IntDistribution as Whole

    if base == "lightgbm":
        return {
            "learning_rate": Real(0.01, 0.3, log=True),
            "num_leaves": Whole(8, 256, log=True),
            "min_data_in_leaf": Whole(2, 100, log=True),
            "feature_fraction": Real(0.4, 1.0),
            "bagging_fraction": Real(0.4, 1.0),
            "lambda_l2": Real(1e-8, 10.0, log=True),
            "extra_trees": Choice([False, True]),
        }
    if base == "catboost":
        return {
            "depth": Whole(4, 10),
            "learning_rate": Real(0.01, 0.3, log=True),
            "l2_leaf_reg": Real(0.5, 30.0, log=True),
        }
    if base == "mlp":
        return {
            "width": Whole(32, 512, log=True),  # every hidden layer's
            "depth": Whole(1, 4),
            "dropout": Real(0.0, 0.5),
            "lr": Real(1e-4, 1e-2, log=True),
            "weight_decay": Real(1e-6, 1e-2, log=True),
        }
    return (
        {"C": Real(1e-4, 1e2, log=True)} if classification else {"alpha": Real(1e-3, 1e3, log=True)}
    )


def candidate_params(base: str, params: dict[str, Any]) -> dict[str, Any]:
    """A point of the search space as the candidate's own parameters.

    >>> candidate_params("mlp", {"width": 256, "depth": 2, "lr": 0.002})
    {'lr': 0.002, 'hidden': [256, 256]}
    """
    out = dict(params)
    if base == "mlp":  # TabM's blocks are of one width (a halving stack missed its default)
        width, depth = int(out.pop("width")), int(out.pop("depth"))
        out["hidden"] = [width] * depth
    return out


def untuned_params(
    base: str, classification: bool, given: dict[str, Any], rows: int
) -> dict[str, Any] | None:
    """The untuned configuration in the search space's terms (the family's defaults for
    ``rows`` fold training rows, the user's ``candidate_params`` over them); None when the
    user's network is not of the space's form."""
    if base == "lightgbm":
        point = {"learning_rate": LightGBMCandidate._schedule(rows)[0], "num_leaves": 31,
                 "min_data_in_leaf": 20, "feature_fraction": 1.0, "bagging_fraction": 1.0,
                 "lambda_l2": 1e-8, "extra_trees": False}  # fmt: skip  # lambda_l2 1e-8: none
    elif base == "catboost":
        point = {"depth": 6, "learning_rate": 0.08 if rows < 10_000 else 0.05, "l2_leaf_reg": 3.0}
    elif base == "mlp":  # the defaults of the architecture the MLP builds (TabM unless asked)
        architecture = str(given.get("architecture", "tabm"))
        defaults = DEFAULTS.get(architecture, DEFAULTS["tabm"])
        hidden = [int(h) for h in given.get("hidden", defaults["hidden"])]
        point = {"width": hidden[0] if hidden else 0, "depth": len(hidden),
                 "dropout": defaults.get("dropout", plain_dropout(rows)), "lr": defaults["lr"],
                 "weight_decay": defaults["weight_decay"]}  # fmt: skip
        if not hidden or candidate_params("mlp", point)["hidden"] != hidden:
            return None  # not a stack of equal widths: outside the space
    else:
        point = {"C": 1.0} if classification else {"alpha": 1.0}
    point.update({k: given[k] for k in point if k in given})
    return point
