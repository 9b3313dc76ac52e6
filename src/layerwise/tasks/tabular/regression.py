"""tabular-regression: predict a number from the columns of a table."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from layerwise.tasks.tabular.task import TabularTask


class TabularRegression(TabularTask):
    """Regress a numeric column; LightGBM, ridge regression and an MLP compete, the advisor chooses.

    >>> import layerwise
    >>> from sklearn.datasets import load_diabetes
    >>> df = load_diabetes(as_frame=True).frame
    >>> run = layerwise.fit(df, target="target", task="tabular-regression", verbose=False)  # doctest: +SKIP
    """

    name: ClassVar[str] = "tabular-regression"
    description: ClassVar[str] = "Predict a number from a table"
    kind: ClassVar[str] = "regression"

    @classmethod
    def demo_data(cls, folder: Any) -> Any:
        from layerwise.tasks.tabular.cli import diabetes

        return diabetes(folder)

    @classmethod
    def contract_example(cls, seed: int = 0) -> tuple[Any, dict[str, Any], Any]:
        rng = np.random.default_rng(seed)
        n = 160
        frame = pd.DataFrame(
            {
                "x1": rng.normal(size=n),
                "x2": rng.uniform(size=n),
                "group": rng.choice(["a", "b"], size=n),
            }
        )
        frame["y"] = (
            3 * frame["x1"]
            - 2 * frame["x2"]
            + (frame["group"] == "a") * 1.5
            + rng.normal(0, 0.1, n)
        )
        options = {"target": "y", "candidate_params": {"mlp": {"epochs": 5}}}
        return frame, options, frame.drop(columns=["y"]).head(7)
