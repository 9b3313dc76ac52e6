"""Generated tables with known anomalies: for the demo, the tests, and a user who wants to
see what the detectors do before trusting them with real data.

``transactions`` imitates card payments: most follow a customer's habits (amount by merchant
category, hour of day, distance from home, payments that day); a small share are fraud, each
odd in one or two ways (a large amount at an unusual hour, far from home, a burst of
payments, a category the amount doesn't fit). ``planted_outliers`` is a plainer table: rows
on a correlated Gaussian, with outliers pushed off it. Both return ``is_anomaly`` (0/1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CATEGORIES = {  # merchant category: (median amount, spread of log amount)
    "grocery": (40.0, 0.5),
    "fuel": (55.0, 0.3),
    "restaurant": (35.0, 0.6),
    "online": (60.0, 0.9),
    "travel": (400.0, 0.7),
    "electronics": (250.0, 0.8),
}


def transactions(n: int = 5000, fraud_rate: float = 0.01, seed: int = 0) -> pd.DataFrame:
    """Card payments with ``is_anomaly`` marking fraud.

    >>> df = transactions(1000, seed=1)
    >>> sorted(df.columns)[:3], int(df["is_anomaly"].sum())
    (['amount', 'category', 'customer_age'], 10)
    """
    rng = np.random.default_rng(seed)
    names = list(CATEGORIES)
    weights = np.array([0.3, 0.15, 0.25, 0.2, 0.03, 0.07])
    category = rng.choice(names, size=n, p=weights)
    median = np.array([CATEGORIES[c][0] for c in category])
    spread = np.array([CATEGORIES[c][1] for c in category])
    frame = pd.DataFrame(
        {
            "amount": np.round(median * np.exp(rng.normal(0, spread)), 2),
            "category": category,
            "hour": np.clip(np.round(rng.normal(14, 4, n)), 0, 23).astype(int),
            "distance_km": np.round(rng.gamma(1.5, 4.0, n), 1),
            "payments_today": rng.poisson(1.5, n) + 1,
            "customer_age": rng.integers(18, 85, n),
            "is_anomaly": 0,
        }
    )
    fraud = rng.choice(n, size=max(1, round(n * fraud_rate)), replace=False)
    for i in fraud:
        for way in rng.choice(4, size=rng.integers(1, 3), replace=False):
            if way == 0:  # a larger amount than usual, at night
                frame.loc[i, "amount"] = round(float(median[i] * rng.uniform(2, 8)), 2)
                frame.loc[i, "hour"] = int(rng.integers(0, 6))
            elif way == 1:  # farther from home than usual
                frame.loc[i, "distance_km"] = round(float(rng.uniform(25, 400)), 1)
            elif way == 2:  # a burst of payments
                frame.loc[i, "payments_today"] = int(rng.integers(5, 15))
            else:  # an online purchase of a travel-sized sum
                frame.loc[i, "category"] = "online"
                frame.loc[i, "amount"] = round(float(rng.uniform(300, 1500)), 2)
        frame.loc[i, "is_anomaly"] = 1
    return frame


def planted_outliers(
    n: int = 500, n_outliers: int = 20, n_columns: int = 6, seed: int = 0
) -> pd.DataFrame:
    """Rows on a correlated Gaussian with ``n_outliers`` of them pushed 6 standard deviations
    off it along one or two columns, plus a categorical column ``site``.

    >>> planted_outliers(100, 5).shape
    (100, 8)
    """
    rng = np.random.default_rng(seed)
    mixing = rng.normal(0, 1, (n_columns, n_columns)) / np.sqrt(n_columns)
    x = rng.normal(0, 1, (n, n_columns)) @ (np.eye(n_columns) + mixing)
    std = x.std(axis=0)
    labels = np.zeros(n, dtype=int)
    for i in rng.choice(n, size=n_outliers, replace=False):
        cols = rng.choice(n_columns, size=rng.integers(1, 3), replace=False)
        x[i, cols] += rng.choice([-1, 1], size=len(cols)) * 6 * std[cols]
        labels[i] = 1
    frame = pd.DataFrame(x.round(4), columns=[f"sensor_{j}" for j in range(n_columns)])
    frame["site"] = rng.choice(["north", "south", "east"], size=n)
    frame["is_anomaly"] = labels
    return frame
