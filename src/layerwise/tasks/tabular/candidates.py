"""The tabular candidates by name, each imported only when picked: the bake-off fits them, and
a run folder names the served one (the ensemble, its members)."""

from __future__ import annotations

from layerwise.core.registry import Registry

CANDIDATES = Registry("candidate")
CANDIDATES.register(
    "lightgbm", "layerwise.tasks.tabular.lightgbm_model:LightGBMCandidate", "LightGBM"
)
CANDIDATES.register(
    "lightgbm-xt",
    "layerwise.tasks.tabular.lightgbm_model:LightGBMExtraTrees",
    "LightGBM, random split points",
)
CANDIDATES.register(
    "lightgbm-large",
    "layerwise.tasks.tabular.lightgbm_model:LightGBMLarge",
    "LightGBM, 128 leaves",
)
CANDIDATES.register(
    "random-forest", "layerwise.tasks.tabular.forest:RandomForestCandidate", "random forest"
)
CANDIDATES.register(
    "extra-trees", "layerwise.tasks.tabular.forest:ExtraTreesCandidate", "extra-trees"
)
CANDIDATES.register(
    "catboost", "layerwise.tasks.tabular.catboost_model:CatBoostCandidate", "CatBoost"
)
CANDIDATES.register("linear", "layerwise.candidates.linear:LinearCandidate", "logistic / ridge")
CANDIDATES.register("mlp", "layerwise.tasks.tabular.mlp:MLPCandidate", "TabM, an MLP ensemble")
CANDIDATES.register(
    "yaml", "layerwise.tasks.tabular.yaml_model:YAMLModelCandidate", "your YAML network"
)
CANDIDATES.register(
    "ensemble",
    "layerwise.tasks.tabular.ensemble:EnsembleCandidate",
    "greedy weighted mean of the others",
)
# --tune N: the searched family's best configuration competes as "<family>-tuned" (tuning_space.py)
for _family, _cls in (("lightgbm", "TunedLightGBM"), ("catboost", "TunedCatBoost"),
                      ("linear", "TunedLinear"), ("mlp", "TunedMLP")):  # fmt: skip
    CANDIDATES.register(
        f"{_family}-tuned",
        f"layerwise.tasks.tabular.tuning_space:{_cls}",
        f"{_family}, tuned by --tune",
    )
