"""tabular-classification: predict a category from the columns of a table."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from layerwise.tasks.tabular.task import TabularTask


class TabularClassification(TabularTask):
    """Classify rows of a table; LightGBM, a linear model and an MLP compete, the advisor chooses.

    >>> import layerwise
    >>> from sklearn.datasets import load_breast_cancer
    >>> df = load_breast_cancer(as_frame=True).frame
    >>> run = layerwise.fit(df, target="target", verbose=False, report=False)  # doctest: +SKIP
    >>> run.predict(df.drop(columns="target").head(2))  # doctest: +SKIP
    """

    name: ClassVar[str] = "tabular-classification"
    description: ClassVar[str] = "Predict a category from a table"
    kind: ClassVar[str] = "classification"

    @classmethod
    def demo_data(cls, folder: Any) -> Any:
        from layerwise.tasks.tabular.cli import breast_cancer

        return breast_cancer(folder)

    @classmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        rng = np.random.default_rng(seed)
        n = 160
        frame = pd.DataFrame(
            {
                "a": rng.normal(size=n),
                "b": rng.normal(size=n),
                "colour": rng.choice(["red", "green", "blue"], size=n),
            }
        )
        score = frame["a"] + 0.5 * frame["b"] + (frame["colour"] == "red") * 1.0
        frame["label"] = np.where(score > 0.3, "yes", "no")
        options = {"target": "label", "candidate_params": {"mlp": {"epochs": 5}}}
        return frame, options, frame.drop(columns=["label"]).head(7)
