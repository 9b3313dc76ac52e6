"""Traditional machine learning or deep learning? The advisor answers from the data.

Two steps. ``plan`` applies explicit rules to a :class:`~layerwise.data.profile.DataProfile`
(and the user's constraints) to decide which candidates compete, in what order, under which
validation protocol and metric. ``bake_off`` then measures every candidate on the same
splits, and :func:`layerwise.core.selection.choose` picks the best validation score, preferring
the simpler model within the stated tolerance or the noise of the evidence.
``decision_markdown`` writes it all down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from layerwise.core import selection

SMALL_ROWS = 2000
LARGE_ROWS = 50_000
HIGH_CARDINALITY = 50
IMBALANCE_MINORITY = 0.10  # for two classes; with k classes the bar is min(0.10, 0.5 / k)


# in bake-off order (cheapest first within a complexity tier): the default learners, then the
# portfolio of other tree ensembles (random splits, forests, larger trees), then the MLP
TABULAR_CANDIDATES = (
    "lightgbm", "linear", "catboost", "lightgbm-xt", "random-forest", "extra-trees",
    "lightgbm-large", "mlp",
)  # fmt: skip
INTERPRETABLE_CANDIDATES = ("linear", "lightgbm", "catboost")  # coefficients, importances
OPTIONAL_PACKAGES = {"catboost": "catboost"}  # candidate -> the package (and extra) it needs


def default_tabular_candidates() -> tuple[list[str], list[str]]:
    """The tables' default candidates, and a note for each left out because its optional
    package is not installed (looked up without importing it, so planning stays light).

    >>> names, notes = default_tabular_candidates()
    >>> names[:2]
    ['lightgbm', 'linear']
    """
    return installed_candidates(TABULAR_CANDIDATES)


def installed_candidates(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """``names`` without those whose optional package (``OPTIONAL_PACKAGES``) is missing, and a
    note for each left out naming the extra that adds it.

    >>> installed_candidates(["lightgbm", "mlp"])
    (['lightgbm', 'mlp'], [])
    """
    from importlib.util import find_spec

    kept, notes = [], []
    for name in names:
        package = OPTIONAL_PACKAGES.get(name)
        if package is not None and find_spec(package) is None:
            notes.append(
                f"{name} is not installed, so it does not compete: "
                f'`pip install "layerwise[{package}]"` adds it to the bake-off.'
            )
            continue
        kept.append(name)
    return kept, notes


@dataclass
class Rule:
    name: str
    fired: bool
    says: str


@dataclass
class Plan:
    candidates: list[str]
    rules: list[Rule]
    protocol: str
    n_splits: int  # 0 means one holdout split
    metric: str
    greater_is_better: bool
    tolerance: float  # absolute for scores, relative for errors
    class_weights: bool
    recommendation: str
    ensemble: bool = False  # the mean of the candidates' predictions competes too
    notes: list[str] = field(default_factory=list)
    # a candidate chosen over simpler ones within tolerance of the best, and why: where the
    # validation split cannot see what matters (speech validated on the training speakers)
    prefer: str | None = None
    prefer_reason: str = ""

    def fired(self) -> list[Rule]:
        return [rule for rule in self.rules if rule.fired]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# what a table's run may be judged by (``metric``), whether higher is better, and the tolerance
# within which a simpler model wins (absolute for scores, relative for errors)
TABLE_METRICS = {
    "classification": {"accuracy": (True, 0.002), "balanced_accuracy": (True, 0.002),
                       "macro_f1": (True, 0.002), "roc_auc": (True, 0.002),
                       "log_loss": (False, 0.005)},
    "regression": {"rmse": (False, 0.005), "mae": (False, 0.005)},
}  # fmt: skip


def plan(
    profile: Any,
    interpretable: bool = False,
    time_limit: float | None = None,
    candidates: Sequence[str] | None = None,
    metric: str | None = None,
) -> Plan:
    """Decide candidates, protocol and metric for a tabular profile.

    >>> from types import SimpleNamespace as P
    >>> p = P(modality="tabular", n_rows=500, n_columns=10, task_kind="classification",
    ...       n_classes=2, minority_fraction=0.4, missing_fraction=0.0, columns={})
    >>> plan(p).candidates  # no categorical column: no CatBoost; small: no 128-leaf LightGBM
    ['lightgbm', 'linear', 'lightgbm-xt', 'random-forest', 'extra-trees', 'mlp']
    """
    rows, cols = profile.n_rows, max(profile.n_columns, 1)
    classification = profile.task_kind == "classification"
    minority = profile.minority_fraction or 0.0
    high_card = [
        c.name
        for c in profile.columns.values()
        if c.kind == "categorical" and c.n_unique > HIGH_CARDINALITY
    ]
    small, large = rows < SMALL_ROWS, rows >= LARGE_ROWS
    wide = cols > rows / 5
    n_classes = profile.n_classes or 2
    imbalanced = classification and minority < min(IMBALANCE_MINORITY, 0.5 / n_classes)
    rules = [
        Rule(
            "structured data",
            True,
            "A table of structured columns: gradient-boosted trees are the strongest default here, so they go first, "
            "beside a portfolio of other tree ensembles (random split points, larger trees, random forests) whose "
            "errors differ, for the ensemble; a deep MLP has to earn its place in the bake-off.",
        ),
        Rule(
            "small data",
            small,
            f"{rows} rows (< {SMALL_ROWS}): simple models are hard to beat; the linear model is a serious contender "
            "and k-fold cross-validation gives a steadier estimate than one holdout. The 128-leaf LightGBM is left "
            "out unless asked for: too few rows to fill its leaves, at up to ten times the default's cost.",
        ),
        Rule(
            "large data",
            large,
            f"{rows} rows (>= {LARGE_ROWS}): enough data for the MLP to pay off; one holdout keeps the bake-off affordable.",
        ),
        Rule(
            "wide data",
            wide,
            f"{cols} features for {rows} rows: strong regularisation matters; the linear model is favoured.",
        ),
        Rule(
            "interpretability requested",
            interpretable,
            "Interpretability requested: only the linear model and boosted trees (LightGBM, CatBoost) compete "
            "(coefficients and importances can be read); the MLP is left out.",
        ),
        Rule(
            "imbalanced classes",
            imbalanced,
            f"Minority class is {minority:.1%} of rows: class weights are on, and models are chosen by "
            f"{'ROC-AUC' if profile.n_classes == 2 else 'macro-F1'} rather than accuracy.",
        ),
        Rule(
            "missing values",
            profile.missing_fraction > 0,
            f"{profile.missing_fraction:.1%} of cells are missing: the boosted trees handle them natively; the linear model "
            "and the MLP get mean imputation plus missing-value indicators.",
        ),
        Rule(
            "high-cardinality categories",
            bool(high_card),
            f"Categorical columns with > {HIGH_CARDINALITY} levels ({', '.join(high_card[:3])}): the MLP learns embeddings "
            "and the boosted trees split on categories natively; one-hot makes the linear model wide.",
        ),
        Rule(
            "time limit",
            time_limit is not None,
            f"Time limit {time_limit}s: candidates run cheapest first; one whose first fold shows that its "
            "folds and final fit cannot finish in the time left is skipped (the projection is recorded), "
            "and the deep model's training is capped by the time left and, beside other "
            "candidates, by half of the limit.",
        ),
    ]
    notes: list[str] = []
    categorical = [c.name for c in profile.columns.values() if c.kind == "categorical"]
    if candidates:
        names = list(candidates)
    else:
        names, notes = default_tabular_candidates()
        if not categorical:  # CatBoost's edge is its ordered statistics of categories
            names = [n for n in names if n != "catboost"]
        if small:  # digits, 1,797 rows: 16 s a fit against LightGBM's 1.8 s, no better
            names = [n for n in names if n != "lightgbm-large"]
    rules.append(
        Rule(
            "categorical columns",
            bool(categorical) and "catboost" in names,
            f"{len(categorical)} categorical column(s) ({', '.join(categorical[:3])}): CatBoost, "
            "whose ordered target statistics are made for them, competes beside LightGBM. "
            "(On all-numeric tables it would be a second boosted-trees model at several times "
            "LightGBM's cost, so it is left out unless asked for.)",
        )
    )
    if interpretable:
        names = [n for n in names if n in INTERPRETABLE_CANDIDATES]
    ensemble = not interpretable and len(names) >= 2
    rules.append(
        Rule(
            "ensemble",
            ensemble,
            "A greedy weighted mean of the candidates' predictions competes as well, its weights fitted on "
            "their out-of-fold predictions and scored on folds its weights did not see (no extra training); "
            "it counts as complex as its most complex member.",
        )
    )
    if wide:
        names = sorted(names, key=lambda n: n != "linear")
    if large:
        n_splits, protocol = 0, "holdout (20% of the training rows)"
    else:
        n_splits = 5 if rows <= 5000 else 3
        protocol = f"{n_splits}-fold {'stratified ' if classification else ''}cross-validation"
    weigh_classes = imbalanced
    if metric is not None:  # the user's: the run is chosen, and the losses weighted, for it
        weigh_classes = imbalanced and metric not in ("accuracy", "log_loss", "roc_auc")
    elif not classification:
        metric = "rmse"
    elif imbalanced:
        metric = "roc_auc" if profile.n_classes == 2 else "macro_f1"
    else:
        metric = "accuracy"
    greater, tolerance = TABLE_METRICS[profile.task_kind][metric]
    first = {
        "lightgbm": "classical first: gradient-boosted trees",
        "catboost": "classical first: gradient-boosted trees (CatBoost)",
        "linear": "classical first: a linear model",
        "mlp": "deep first: an MLP",
    }.get(names[0], names[0])
    return Plan(
        names,
        rules,
        protocol,
        n_splits,
        metric,
        greater,
        tolerance,
        weigh_classes,
        f"{first}, confirmed by a measured bake-off of {', '.join(names)}"
        + (" and their ensemble." if ensemble else "."),
        ensemble=ensemble,
        notes=notes,
    )


def _size(n_bytes: float | None) -> str:
    if n_bytes is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return "-"


def _paired(row: dict[str, Any]) -> str:
    paired = row.get("paired")
    if not paired:
        return "-"
    return (
        f"{paired['behind_best']:+.4f} ± {paired['standard_error']:.4f} "
        f"({paired['units']:,} {paired['kind']})"
    )


def decision_markdown(
    profile: Any,
    plan: Plan,
    rows: list[dict[str, Any]],
    chosen: str,
    reason: str,
    families: dict[str, str],
) -> str:
    """decision.md: the profile, every rule (fired or not), the bake-off table and the choice."""
    from layerwise.core.bakeoff import decision_page, markdown_table

    data = ["## The data", ""] + [f"- {line}" for line in profile.summary_lines()]
    rules = ["## Rules", ""]
    for rule in plan.rules:
        if rule.fired:
            rules.append(f"- **{rule.name}**: {rule.says}")
    quiet = [rule.name for rule in plan.rules if not rule.fired]
    if quiet:
        rules += ["", f"Rules that did not fire: {', '.join(quiet)}."]
    rules += ["", f"Recommendation before measuring: {plan.recommendation}"]
    direction = "higher" if plan.greater_is_better else "lower"
    tolerance = f"{plan.tolerance:g}" if plan.greater_is_better else f"{plan.tolerance:.1%}"
    head = [
        "candidate",
        "family",
        f"validation {plan.metric}",
        f"test {plan.metric}",
        "behind the best, paired (± 1 SE)",
        "fit time (s)",
        "predict (µs/row)",
        "model size",
    ]
    cells: list[list[str] | str] = []
    for row in rows:
        name = row["candidate"] + (" (chosen)" if row["candidate"] == chosen else "")
        if "skipped" in row:
            cells.append(
                f"| {name} | {families.get(row['candidate'], '')} | skipped: {row['skipped']} | | | | | |"
            )
            continue
        test = row.get("test", {}).get(plan.metric)
        latency = row.get("predict_us_per_row")
        cells.append(
            [
                name,
                families.get(row["candidate"], ""),
                f"{row['validation']:.4f} ± {row['validation_std']:.4f}",
                "-" if test is None else f"{test:.4f}",
                _paired(row),
                f"{row.get('final_fit_seconds', row['fit_seconds']):.2f}",
                "-" if latency is None else f"{latency:.1f}",
                _size(row.get("size_bytes")),
            ]
        )
    bakeoff = [
        "## Measured bake-off",
        "",
        f"Protocol: {plan.protocol} on the training rows; the test rows were never used to choose. "
        f"Metric: {plan.metric} ({direction} is better); a simpler model is preferred within "
        f"{tolerance} of the best or within {selection.SIMPLER_Z:g} standard error of its paired "
        "difference with the best on the same validation units"
        + (f"; within it {plan.prefer} is preferred: {plan.prefer_reason}" if plan.prefer else "."),
        "",
        *markdown_table(head, cells),
    ]
    details = [f"- **{r['candidate']}**: {r['detail']}" for r in rows if r.get("detail")]
    if details:
        bakeoff += ["", *details]
    versus = None
    deep = [r for r in rows if families.get(r["candidate"]) == "deep" and "validation" in r]
    classical = [
        r for r in rows if families.get(r["candidate"]) == "classical" and "validation" in r
    ]
    if deep and classical:
        sign = 1 if plan.greater_is_better else -1
        best_deep = max(deep, key=lambda r: sign * r["validation"])
        best_classic = max(classical, key=lambda r: sign * r["validation"])
        diff = sign * (best_deep["validation"] - best_classic["validation"])
        verdict = "beats" if diff > 0 else "does not beat"
        versus = [
            "## Deep learning or classical?",
            "",
            f"The best deep model ({best_deep['candidate']}, {best_deep['validation']:.4f}) {verdict} the best "
            f"classical model ({best_classic['candidate']}, {best_classic['validation']:.4f}) on validation "
            f"{plan.metric}, by {abs(diff):.4f}."
            + ("" if diff > 0 else " On this data a traditional model does as well or better."),
        ]
    notes = None
    if plan.notes or getattr(profile, "notes", None):
        notes = ["## Notes", ""] + [f"- {note}" for note in [*profile.notes, *plan.notes]]
    choice = f"**Chosen: {chosen}** ({families.get(chosen, '')}). {reason}"
    return decision_page("Why this model", choice, [data, rules, bakeoff, versus, notes])
