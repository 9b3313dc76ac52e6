"""Report sections for reinforcement-learning runs: returns and episode lengths as the agent
trained, its evaluation against a random policy, a GIF of it playing, and its losses.

Each section reads only the run folder's files (metrics.json, history.csv, episodes.csv,
play.gif, play.json) and returns None when they are absent, so other tasks' reports are
untouched. Nothing here imports torch or gymnasium.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from layerwise.runs import plots
from layerwise.runs.folder import HISTORY, METRICS, RunFolder
from layerwise.tasks.reinforcement_learning.outputs import (  # it writes them
    EPISODES,
    PLAY_GIF,
    PLAY_JSON,
)

WINDOW = 20  # episodes in the rolling mean of training returns
LOSS_TITLES = {
    "train_loss": "TD loss (Huber)",
    "train_q": "mean Q",
    "train_epsilon": "epsilon (exploration)",
    "train_policy_loss": "policy loss",
    "train_value_loss": "value loss",
    "train_entropy": "entropy",
    "train_approx_kl": "approx. KL",
    "train_clip_fraction": "clip fraction",
}
_NOT_LOSSES = {"train_return", "train_return_std", "train_length"}


def _json(run: RunFolder, name: str) -> dict:
    if not run.exists(name):
        return {}
    data = json.loads(run.read_text(name))
    return data if isinstance(data, dict) else {}


def _table(run: RunFolder, name: str, needed: tuple[str, ...]) -> pd.DataFrame | None:
    """The CSV with ``needed`` columns as numbers (rows without them dropped), else None."""
    if not run.exists(name):
        return None
    frame = pd.read_csv(run.file(name))
    if frame.empty or any(c not in frame for c in needed):
        return None
    frame = frame.apply(pd.to_numeric, errors="coerce")
    frame = frame.dropna(subset=list(needed)).sort_values(needed[0])
    return frame if not frame.empty else None


def _steps_axis(ax) -> None:
    from matplotlib.ticker import EngFormatter

    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.set_xlabel("environment steps")


def _rolling(ax, x: pd.Series, y: pd.Series, colour: str, light: str, label: str) -> None:
    ax.scatter(x, y, s=5, color=light, alpha=0.6, edgecolors="none", label=f"{label} (each)")
    mean = y.rolling(WINDOW, min_periods=1).mean()
    std = y.rolling(WINDOW, min_periods=2).std().fillna(0.0)
    ax.plot(x, mean, color=colour, linewidth=1.8, label=f"{label}, mean of last {WINDOW}")
    ax.fill_between(x, mean - std, mean + std, color=colour, alpha=0.15, linewidth=0)


def _returns_panel(ax, episodes, history, metrics: dict) -> None:
    if episodes is not None:
        _rolling(ax, episodes["env_steps"], episodes["return"], plots.BLUE,
                 plots.BLUE_LIGHT, "training episodes")  # fmt: skip
    elif history is not None and "train_return" in history:
        ax.plot(history["env_steps"], history["train_return"], color=plots.BLUE,
                marker="o", ms=3, label="training episodes, mean per epoch")  # fmt: skip
    if history is not None and "val_return" in history and history["val_return"].notna().any():
        ax.errorbar(history["env_steps"], history["val_return"], color=plots.ORANGE,
                    yerr=history.get("val_return_std"), marker="o", ms=4, capsize=3,
                    linewidth=1.4, label="evaluation (mean ± std)")  # fmt: skip
    random = _test(metrics, "random").get("mean_return")
    if isinstance(random, (int, float)):
        ax.axhline(random, color=plots.GREY, linestyle="--", linewidth=1.2,
                   label=f"random policy ({random:.1f})")  # fmt: skip
    threshold = metrics.get("reward_threshold")
    if isinstance(threshold, (int, float)):
        ax.axhline(threshold, color=plots.GREEN, linestyle=":", linewidth=1.6,
                   label=f"solved at {threshold:g}")  # fmt: skip
    reached = _agent(metrics)[1].get("steps_to_threshold")
    if isinstance(reached, (int, float)):
        ax.axvline(reached, color=plots.GREEN, linestyle=":", linewidth=1, alpha=0.7,
                   label=f"first solved at {reached:,.0f} steps")  # fmt: skip
    ax.set_ylabel("return")
    ax.set_title("Return per episode", fontsize=10)


def _lengths_panel(ax, episodes, history) -> None:
    if episodes is not None and "length" in episodes and episodes["length"].notna().any():
        rows = episodes.dropna(subset=["length"])
        _rolling(ax, rows["env_steps"], rows["length"], plots.BLUE, plots.BLUE_LIGHT,
                 "training")  # fmt: skip
    elif history is not None and "train_length" in history:
        ax.plot(history["env_steps"], history["train_length"], color=plots.BLUE, marker="o",
                ms=3, label="training, mean per epoch")  # fmt: skip
    if history is not None and "val_length" in history and history["val_length"].notna().any():
        ax.plot(history["env_steps"], history["val_length"], color=plots.ORANGE,
                marker="o", ms=4, label="evaluation")  # fmt: skip
    ax.set_ylabel("steps in the episode")
    ax.set_title("Episode length", fontsize=10)


def return_curves(run: RunFolder) -> str | None:
    """Training returns (each, rolling mean and std) and evaluation returns per epoch against
    environment steps, with the random policy and the solved threshold as reference lines;
    beside them, episode lengths."""
    episodes = _table(run, EPISODES, ("env_steps", "return"))
    history = _table(run, HISTORY, ("env_steps",))
    if episodes is None and (history is None or "val_return" not in history):
        return None
    fig, axes = plots._figure(11.0, 4.2, ncols=2)
    _returns_panel(axes[0], episodes, history, _json(run, METRICS))
    _lengths_panel(axes[1], episodes, history)
    for ax in axes:
        _steps_axis(ax)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    note = '<p class="note">'
    if episodes is not None:
        note += (f"{len(episodes)} training episodes over {int(episodes['env_steps'].max()):,} "
                 f"environment steps. Dots are single episodes, the line the mean of the last "
                 f"{WINDOW} and the band one standard deviation. ")  # fmt: skip
    note += "Evaluation returns are measured on separate episodes after each epoch.</p>"
    return plots.img_tag(plots._encode(fig), "returns and episode lengths") + note


def losses(run: RunFolder) -> str | None:
    """One small panel per loss column of an RL history (at most 6), against env steps."""
    history = _table(run, HISTORY, ("env_steps",))
    if history is None:
        return None
    known = [c for c in LOSS_TITLES if c in history]
    if "train_policy_loss" in history:  # PPO's train_loss is its policy + value loss: shown apart
        known = [c for c in known if c != "train_loss"]
    other = [c for c in history.columns
             if c.startswith("train_") and c not in LOSS_TITLES and c not in _NOT_LOSSES]  # fmt: skip
    columns = [c for c in known + other if history[c].notna().any()][:6]
    if not columns:
        return None
    cols = min(3, len(columns))
    rows = -(-len(columns) // cols)
    fig, axes = plots._figure(3.7 * cols, 2.9 * rows, ncols=len(columns))
    grid = fig.add_gridspec(rows, cols)
    for i, (ax, column) in enumerate(zip(axes, columns, strict=False)):
        ax.set_subplotspec(grid[i // cols, i % cols])
        marker = "o" if len(history) <= 30 else None
        ax.plot(history["env_steps"], history[column], color=plots.CYCLE[i % 10],
                marker=marker, ms=3)  # fmt: skip
        ax.set_title(LOSS_TITLES.get(column, column.removeprefix("train_").replace("_", " ")),
                     fontsize=10)  # fmt: skip
        _steps_axis(ax)
    return plots.img_tag(plots._encode(fig), "training losses") + (
        '<p class="note">Averages over the updates of each epoch.</p>'
    )


def _test(metrics: dict, name: str | None) -> dict:
    info = (metrics.get("candidates") or {}).get(name) if name else None
    test = info.get("test") if isinstance(info, dict) else None
    return test if isinstance(test, dict) else {}


def _agent(metrics: dict) -> tuple[str | None, dict]:
    """The agent's name and candidate entry: the chosen one, or the first that is not random."""
    candidates = metrics.get("candidates") or {}
    chosen = metrics.get("chosen")
    if chosen in (None, "random") or chosen not in candidates:
        chosen = next((n for n in candidates if n != "random"), chosen)
    info = candidates.get(chosen) if chosen is not None else None
    return chosen, info if isinstance(info, dict) else {}


def _num(value, digits: int = 1) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        return "–"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def evaluation_table(run: RunFolder) -> str | None:
    """Each candidate's test return (random first), with whether it solves the environment,
    and a sentence on how far the agent is above chance."""
    metrics = _json(run, METRICS)
    candidates = metrics.get("candidates")
    if not isinstance(candidates, dict):
        return None
    names = sorted(candidates, key=lambda n: n != "random")  # stable: random first
    if not any("mean_return" in _test(metrics, n) for n in names):
        return None
    threshold = metrics.get("reward_threshold")
    has_threshold = isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
    agent, info = _agent(metrics)
    e = html.escape
    rows = []
    for name in names:
        entry = candidates[name] if isinstance(candidates[name], dict) else {}
        test, family = _test(metrics, name), entry.get("family", "")
        if name == metrics.get("chosen") and isinstance(metrics.get("test"), dict):
            test = {**test, **metrics["test"]}  # the chosen policy's headline test
        mean = test.get("mean_return")
        solved = "n/a"
        if has_threshold and isinstance(mean, (int, float)):
            solved = "yes" if test.get("solved", mean >= threshold) else "no"
        cells = [f"{_num(mean)} ± {_num(test.get('std_return'))}", _num(test.get("episodes")),
                 _num(test.get("mean_length")), solved]  # fmt: skip
        tds = "".join(f"<td class=num>{c}</td>" for c in cells)
        cls = ' class="chosen"' if name == metrics.get("chosen") else ""
        rows.append(f"<tr{cls}><td>{e(str(name))}</td><td>{e(str(family))}</td>{tds}</tr>")
    head = ["policy", "family", "mean return ± std", "episodes", "mean length", "solved"]
    table = ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows)
             + "</table>")  # fmt: skip
    return table + _verdict(metrics, agent, info, threshold if has_threshold else None)


def _verdict(metrics: dict, agent: str | None, info: dict, threshold: float | None) -> str:
    test = _test(metrics, agent)
    if agent == metrics.get("chosen") and isinstance(metrics.get("test"), dict):
        test = {**test, **metrics["test"]}
    mean, random = test.get("mean_return"), _test(metrics, "random").get("mean_return")
    env = metrics.get("env")
    where = f" on <code>{html.escape(str(env))}</code>" if env else ""
    if not isinstance(mean, (int, float)):
        return ""
    text = f"The agent's mean return{where} is {mean:.1f}"
    if isinstance(random, (int, float)):
        text += f" against {random:.1f} for random actions ({mean - random:+.1f})"
    text += "."
    if threshold is not None:
        steps = info.get("steps_to_threshold")
        if test.get("solved", mean >= threshold):
            text += f" It solves the environment (threshold {threshold:g})"
            if isinstance(steps, (int, float)):
                text += (f"; its evaluation return first reached the threshold after "
                         f"{steps:,.0f} environment steps")  # fmt: skip
            text += "."
        else:
            text += f" It does not solve the environment: the threshold is {threshold:g}."
    if isinstance(info.get("env_steps"), (int, float)):
        text += f" It trained for {info['env_steps']:,.0f} environment steps"
        if isinstance(info.get("fit_seconds"), (int, float)):
            text += f" in {info['fit_seconds']:.1f} s"
        text += "."
    return f"<p>{text}</p>"


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def play(run: RunFolder) -> str | None:
    """The GIF of the trained agent playing one evaluation episode, with a caption."""
    info = _json(run, PLAY_JSON)
    name = Path(str(info.get("file") or PLAY_GIF)).name  # only a file of this folder
    if not run.exists(name):
        return None
    data = base64.b64encode(run.file(name).read_bytes()).decode("ascii")
    metrics = _json(run, METRICS)
    agent, env = _agent(metrics)[0], metrics.get("env")
    parts = []
    if isinstance(info.get("return"), (int, float)):
        parts.append(f"return {info['return']:.1f}")
    if isinstance(info.get("length"), (int, float)):
        parts.append(f"{info['length']:,.0f} steps")
    every = info.get("every")
    if isinstance(every, (int, float)) and every > 1:
        parts.append(f"every {_ordinal(int(every))} frame shown")
    elif every == 1:
        parts.append("every frame shown")
    who = f"the trained agent ({agent})" if agent else "the trained agent"
    caption = f"One evaluation episode of {who}" + (f" on {env}" if env else "")
    caption += (": " + ", ".join(parts) if parts else "") + "."
    alt = html.escape(caption)
    return (f'<img alt="{alt}" src="data:image/gif;base64,{data}">'
            f'<p class="note" style="text-align:center">{alt}</p>')  # fmt: skip


# The sections this application adds to report.html, in page order (Task.report_sections).
SECTIONS = [
    ("How the agent learned", return_curves),
    ("Evaluation against a random policy", evaluation_table),
    ("The agent playing", play),
    ("Training losses", losses),
]
