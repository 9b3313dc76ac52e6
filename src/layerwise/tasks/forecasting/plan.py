"""What the advisor knows about a forecasting dataset, and the plan it makes for the bake-off."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from layerwise.core.advisor import Plan, Rule

SHORT_HISTORY = 1_000  # training steps per series below which deep forecasters rarely help
MANY_SERIES = 50  # ETS fits one model per series and channel: skipped beyond this


@dataclass
class ForecastProfile:
    """A description of the series for the advisor and decision.md."""

    n_series: int
    n_channels: int
    columns: list[str]
    frequency: str
    season: int
    horizon: int
    steps: tuple[int, int, int]  # training, validation and test steps of the longest series
    windows: tuple[int, int, int]  # forecast origins in each part
    source: str
    notes: list[str] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        shown = ", ".join(self.columns[:8]) + (" ..." if len(self.columns) > 8 else "")
        train, val, test = self.steps
        return [
            f"{self.n_series:,} series x {self.n_channels} channels ({shown}), {self.frequency}, "
            f"season {self.season} steps",
            f"Horizon {self.horizon} steps; split in time: {train:,} training, {val:,} validation, "
            f"{test:,} test steps (longest series)",
            f"Forecast windows: {self.windows[0]:,} training, {self.windows[1]:,} validation, "
            f"{self.windows[2]:,} test (every origin)",
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_series": self.n_series,
            "n_channels": self.n_channels,
            "columns": self.columns,
            "frequency": self.frequency,
            "season": self.season,
            "horizon": self.horizon,
            "steps": list(self.steps),
            "windows": list(self.windows),
            "source": self.source,
            "notes": self.notes,
        }


def plan_forecast(profile: ForecastProfile, protocol: str) -> Plan:
    """Candidates, metric and the rules that shaped them, for a forecasting profile."""
    short = profile.steps[0] < SHORT_HISTORY
    seasonal = profile.season > 1 and profile.steps[0] > 2 * profile.season
    many = profile.n_series * profile.n_channels > MANY_SERIES
    rules = [
        Rule(
            "short-history",
            short,
            f"{profile.steps[0]:,} training steps per series: too few for a network to learn "
            "more than a linear map does; ridge and ETS are the ones to beat.",
        ),
        Rule(
            "seasonal",
            seasonal,
            f"{profile.frequency} data: a season of {profile.season} steps, so seasonal naive "
            "and ETS with seasonality compete.",
        ),
        Rule(
            "many-series",
            many,
            f"{profile.n_series * profile.n_channels:,} series x channels: ETS (one model each) is "
            "skipped; the window models learn one map for all of them.",
        ),
    ]
    candidates = ["naive"]
    candidates += ["seasonal-naive"] if seasonal else []
    candidates += ["ridge"] + ([] if many else ["ets"])
    candidates += ["dlinear", "patchtst", "segrnn"]
    return Plan(
        candidates=candidates,
        rules=rules,
        protocol=protocol,
        n_splits=0,
        metric="mse",
        greater_is_better=False,
        tolerance=0.005,
        class_weights=False,
        ensemble=True,
        recommendation="the linear baselines first: on short histories nothing beats them."
        if short
        else "deep forecasters can beat the ridge map with this much history; they must show it "
        "on the validation windows.",
    )
