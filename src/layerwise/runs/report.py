"""report.html: one self-contained page describing a run folder.

No external CSS, JavaScript or fonts; every plot is a PNG embedded as a base64 data URI, so
the page can be mailed, archived or opened offline. Every section is optional and is left
out quietly when the file it reads is absent; a section whose file cannot be read shows a
one-line note instead of failing the whole report.
"""

from __future__ import annotations

import html
import json
import re
import shlex
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from layerwise.runs import plots, probability_report, report_images
from layerwise.runs.folder import (
    DECISION,
    HISTORY,
    IMPORTANCE,
    MANIFEST,
    METRICS,
    PREDICTIONS,
    REPORT,
    RunFolder,
    library_versions,
)
from layerwise.runs.markdown import markdown_to_html

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 color:#1d2430;background:#f6f7f9;margin:0;line-height:1.5}
main{max-width:1000px;margin:0 auto;padding:0 20px 40px}
header{background:#1d2430;color:#fff;padding:22px 0 16px;margin-bottom:18px}
header .inner{max-width:1000px;margin:0 auto;padding:0 20px}
header h1{margin:0 0 4px;font-size:1.6em}header .meta{color:#c3cad5;font-size:.9em}
header .meta span{margin-right:18px}
section{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:4px 22px 16px;margin:16px 0}
h2{font-size:1.25em;border-bottom:1px solid #e1e4e8;padding-bottom:6px}
h3,h4,h5{margin:1em 0 .4em}table{border-collapse:collapse;margin:10px 0;font-size:.92em}
th,td{border:1px solid #d8dce1;padding:5px 10px;text-align:left;vertical-align:top}
th{background:#f0f2f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.chosen td{background:#eaf6ea;font-weight:600}
code{background:#f0f2f5;padding:1px 4px;border-radius:3px;font-size:.9em}
pre{background:#f0f2f5;padding:10px;border-radius:6px;overflow-x:auto}
pre code{background:none;padding:0}
img{max-width:100%;height:auto;display:block;margin:10px auto}
.note{color:#5a6372;font-size:.9em}.error{color:#b3261e;font-size:.9em}
.headline{display:flex;flex-wrap:wrap;gap:12px;margin:10px 0}
.headline>div{border:1px solid #d8dce1;border-radius:6px;padding:8px 14px;min-width:110px}
.headline .v{font-size:1.4em;font-weight:600}.headline .k{color:#5a6372;font-size:.85em}
footer{color:#5a6372;font-size:.85em;text-align:center;margin-top:24px}
"""


def build_report(run: RunFolder) -> Path:
    """Write ``report.html`` into the run folder (atomically) and return its path.

    Example:
        >>> import tempfile
        >>> run = RunFolder.create(tempfile.mkdtemp(), "tabular-classification")
        >>> run.write_json("metrics.json", {"task": "tabular-classification", "chosen": "linear"})
        >>> build_report(run).name
        'report.html'
    """
    manifest = _read_json(run, MANIFEST) or {}
    metrics = _read_json(run, METRICS) or {}
    task = str(metrics.get("task") or manifest.get("task") or _task_from_name(run.path.name))
    sections: list[tuple[str, Callable[[], str | None]]] = [
        ("Summary", lambda: _summary(metrics, task)),
        ("Decision: machine learning or deep learning", lambda: _decision(run)),
        ("Candidates", lambda: _candidates(metrics)),
        ("Learning curves", lambda: _learning_curves(run)),
        (_predictions_title(run, task), lambda: _predictions(run, task)),
        *[
            (title, lambda render=render: render(run))
            for title, render in probability_report.SECTIONS
        ],
        *_task_sections(run, task),
        ("Feature importance", lambda: _importance(run)),
        ("Files", lambda: _files(run, manifest)),
    ]
    body = [_section(title, render) for title, render in sections]
    page = _page(run, manifest, task, "".join(b for b in body if b))
    run.write_text(REPORT, page)
    return run.path / REPORT  # not run.file: an opened folder trained without one does not list it


def _task_sections(run: RunFolder, task: str) -> list[tuple[str, Callable[[], str | None]]]:
    """The sections the run's application declares (Task.report_sections); none for a task
    this installation does not know (a folder from a newer layerwise still gets a page)."""
    from layerwise.core.registry import TASKS
    from layerwise.errors import ConfigError

    try:
        sections = TASKS.get(task).report_sections()
    except ConfigError:
        return []
    return [(title, lambda render=render: render(run)) for title, render in sections]


# ---- page ------------------------------------------------------------------------------
def _page(run: RunFolder, manifest: dict, task: str, body: str) -> str:
    created = manifest.get("created")
    if not created:
        stamp = run.path.stat().st_mtime
        created = datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec="seconds")
    version = manifest.get("layerwise_version") or library_versions().get("layerwise", "?")
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    e = html.escape
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{e(task)}: {e(run.path.name)}</title><style>{_STYLE}</style></head><body>"
        f'<header><div class="inner"><h1>{e(task)}</h1><div class="meta">'
        f"<span>run <b>{e(run.path.name)}</b></span><span>created {e(str(created))}</span>"
        f"<span>layerwise {e(str(version))}</span></div></div></header><main>{body}"
        f"<footer>Generated by layerwise {e(str(version))} at {e(now)}.</footer>"
        "</main></body></html>\n"
    )


def _section(title: str, render: Callable[[], str | None]) -> str:
    try:
        content = render()
    except (ValueError, KeyError, TypeError, IndexError, OSError, pd.errors.ParserError) as exc:
        content = f'<p class="error">This section could not be drawn: {html.escape(repr(exc))}</p>'
    if not content:
        return ""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return f'<section id="{slug}"><h2>{html.escape(title)}</h2>{content}</section>\n'


def _read_json(run: RunFolder, name: str) -> Any:
    if not run.exists(name):
        return None
    try:
        return json.loads(run.file(name).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _task_from_name(name: str) -> str:
    match = re.match(r"\d{8}-\d{6}-(.+?)(-\d+)?$", name)
    return match.group(1) if match else name


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (int, str)):
        return html.escape(str(value))
    return html.escape(json.dumps(value, default=str))


# ---- sections --------------------------------------------------------------------------
def _summary(metrics: dict, task: str) -> str | None:
    if not metrics:
        return None
    chosen = metrics.get("chosen")
    candidates = metrics.get("candidates") if isinstance(metrics.get("candidates"), dict) else {}
    info = candidates.get(chosen, {}) if chosen else {}
    test = metrics.get("test") or (info.get("test") if isinstance(info, dict) else None) or {}
    rows = [("Task", html.escape(task))]
    if chosen:
        family = info.get("family") if isinstance(info, dict) else None
        rows.append(
            (
                "Chosen model",
                f"<b>{html.escape(str(chosen))}</b>"
                + (f" ({html.escape(str(family))})" if family else ""),
            )
        )
    if metrics.get("metric"):
        better = {True: "higher is better", False: "lower is better"}.get(
            metrics.get("greater_is_better"), ""
        )
        rows.append(
            (
                "Selection metric",
                html.escape(str(metrics["metric"]))
                + (f' <span class="note">({better})</span>' if better else ""),
            )
        )
    if candidates:
        rows.append(("Candidates compared", html.escape(", ".join(map(str, candidates)))))
    out = "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"
    if isinstance(test, dict) and test:
        cards = "".join(
            f'<div><div class="v">{_fmt(v)}</div><div class="k">test {html.escape(str(k))}'
            "</div></div>"
            for k, v in test.items()
            if not isinstance(v, (dict, list))
        )
        out += f'<div class="headline">{cards}</div>'
    return out


def _decision(run: RunFolder) -> str | None:
    if not run.exists(DECISION):
        return None
    return markdown_to_html(run.read_text(DECISION), heading_offset=2)


def _candidates(metrics: dict) -> str | None:
    candidates = metrics.get("candidates")
    if not isinstance(candidates, dict) or not candidates:
        return None
    metric, chosen = metrics.get("metric"), metrics.get("chosen")
    chart = plots.candidates_chart(candidates, metric, chosen)
    head = [
        "model",
        "family",
        f"validation {metric or ''}",
        f"test {metric or ''}",
        "fit seconds",
        "predict ms/row",
        "size",
    ]
    rows = []
    for name, info in candidates.items():
        info = info if isinstance(info, dict) else {}
        cells = [
            html.escape(str(name)),
            html.escape(str(info.get("family", ""))),
            _fmt(plots._metric_of(info.get("validation"), metric)),
            _fmt(plots._metric_of(info.get("test"), metric)),
            _fmt(info.get("fit_seconds")),
            _fmt(info.get("predict_ms_per_row")),
            _size(info.get("size_bytes")),
        ]
        cls = ' class="chosen"' if name == chosen else ""
        tds = "".join(f"<td{'' if i < 2 else ' class=num'}>{c}</td>" for i, c in enumerate(cells))
        rows.append(f"<tr{cls}>{tds}</tr>")
    table = (
        "<table><tr>"
        + "".join(f"<th>{html.escape(h.strip())}</th>" for h in head)
        + "</tr>"
        + "".join(rows)
        + "</table>"
    )
    return plots.img_tag(chart, "validation and test score of each candidate") + table


def _learning_curves(run: RunFolder) -> str | None:
    if not run.exists(HISTORY):
        return None
    history = pd.read_csv(run.file(HISTORY))
    if history.empty or "val_fd" in history:  # a generator's: report_image_gen draws them
        return None
    if "env_steps" in history:  # an RL agent's: report_rl draws them against env steps
        return None
    # The epoch kept: the lowest validation loss unless the run's metrics name another column
    # (object detection keeps its best validation mAP@0.5: the loss does not follow it).
    kept = (_read_json(run, METRICS) or {}).get("epoch_kept_by")
    kept = kept if isinstance(kept, dict) else {}
    column = str(kept.get("column", "val_loss"))
    mode = "max" if kept.get("mode") == "max" else "min"
    chart = plots.learning_curves(history, column, mode)
    if not chart:
        return None
    note = ""
    if column in history and history[column].notna().any():
        where = history[column].idxmax() if mode == "max" else history[column].idxmin()
        best = history.loc[where]
        epoch = best["epoch"] if "epoch" in history else int(where) + 1
        what = "validation loss" if column == "val_loss" else column.replace("_", " ")
        note = (
            f'<p class="note">{len(history)} epochs; best {what} '
            f"{best[column]:.4g} at epoch {_fmt(epoch)} (dashed line, the epoch kept)"
        )
        if "seconds" in history:
            note += f"; {history['seconds'].sum():.1f} s of training in all"
        note += ".</p>"
    return plots.img_tag(chart, "learning curves") + note


def _read_predictions(run: RunFolder) -> pd.DataFrame | None:
    if not run.exists(PREDICTIONS):
        return None
    frame = pd.read_csv(run.file(PREDICTIONS))
    if "y_true" not in frame or "y_pred" not in frame or frame.empty:
        return None
    return frame


def _is_regression(frame: pd.DataFrame, task: str) -> bool:
    if any(c.startswith("proba_") for c in frame.columns):
        return False
    if "regression" in task or "forecast" in task:
        return True
    if "classification" in task:
        return False
    truth = frame["y_true"]
    return pd.api.types.is_float_dtype(truth) and truth.nunique() > 20


def _predictions_title(run: RunFolder, task: str) -> str:
    try:
        frame = _read_predictions(run)
    except (ValueError, OSError, UnicodeDecodeError):
        frame = None  # the section itself reports the error
    if frame is not None and _is_regression(frame, task):
        return "Regression on the test set"
    return "Classification on the test set"


def _predictions(run: RunFolder, task: str) -> str | None:
    frame = _read_predictions(run)
    if frame is None:
        return None
    if _is_regression(frame, task):
        y_true = pd.to_numeric(frame["y_true"], errors="coerce")
        y_pred = pd.to_numeric(frame["y_pred"], errors="coerce")
        error = (y_true - y_pred).dropna()
        note = (
            f'<p class="note">{len(error)} test rows; RMSE {(error**2).mean() ** 0.5:.4g}, '
            f"MAE {error.abs().mean():.4g}. Points on the dashed line are exact; residuals "
            "should scatter evenly around zero.</p>"
        )
        return (
            plots.img_tag(plots.regression_plots(y_true, y_pred), "regression diagnostics") + note
        )
    proba_cols = [c for c in frame.columns if c.startswith("proba_")]
    proba = frame[proba_cols].rename(columns=lambda c: c[len("proba_") :])
    classes = list(proba.columns)
    labels = pd.unique(pd.concat([frame["y_true"], frame["y_pred"]]).astype(str))
    classes += sorted(str(c) for c in labels if str(c) not in classes)
    accuracy = (frame["y_true"].astype(str) == frame["y_pred"].astype(str)).mean()
    out = (
        f'<p class="note">{len(frame)} test rows, {len(classes)} classes, accuracy '
        f"{accuracy:.4g}. Each row of the matrix is a true class; colours are the fraction "
        "of that class, the numbers are counts.</p>"
    )
    out += plots.img_tag(
        plots.confusion_matrix(frame["y_true"], frame["y_pred"], classes), "confusion matrix"
    )
    out += report_images.per_class_table(frame)
    if len(proba.columns) >= 2:
        out += plots.img_tag(plots.roc_curves(frame["y_true"], proba), "ROC curves")
    return out


def _importance(run: RunFolder) -> str | None:
    data = _read_json(run, IMPORTANCE)
    if not isinstance(data, dict) or not isinstance(data.get("features"), list):
        return None
    metric = data.get("metric")
    chart = plots.importance_chart(data["features"], metric)
    if not chart:
        return None
    method = str(data.get("method", "permutation"))
    note = (
        f'<p class="note">Method: {html.escape(method)}'
        + (f", metric {html.escape(str(metric))}" if metric else "")
        + ". "
    )
    if method == "permutation":
        note += (
            "Permutation importance is how much the test score drops when one input "
            "column is shuffled, breaking its link to the target while the model stays "
            "fixed; bars show the mean over repeats, whiskers one standard deviation. "
        )
    rows = data.get("rows")
    if isinstance(rows, int) and not isinstance(rows, bool) and rows > 0:
        note += f"Scored on {rows:,} test rows. "
    shown = min(20, len(data["features"]))
    note += f"Top {shown} of {len(data['features'])} features.</p>"
    return plots.img_tag(chart, "feature importance") + note


def _files(run: RunFolder, manifest: dict) -> str:
    listed = manifest.get("files") if isinstance(manifest.get("files"), dict) else None
    if listed is None:
        names = sorted(
            p.relative_to(run.path).as_posix()
            for p in run.path.rglob("*")
            if p.is_file() and not p.name.startswith(".") and p.name != REPORT
        )
    else:
        names = sorted(listed)
    rows = []
    for name in names:
        path = run.path / name
        size = _size(path.stat().st_size) if path.is_file() else "missing"
        rows.append(f"<tr><td><code>{html.escape(name)}</code></td><td class=num>{size}</td></tr>")
    out = ""
    if rows:
        source = (
            "listed in manifest.json" if listed is not None else "in the folder (no manifest yet)"
        )
        out += (
            f'<p class="note">Files {source}:</p><table><tr><th>file</th><th>size</th></tr>'
            + "".join(rows)
            + "</table>"
        )
    where = shlex.quote(str(run.path))
    out += (
        "<h3>Next</h3><pre><code>"
        f"layerwise predict {html.escape(where)} new.csv -o predictions.csv\n"
        f"layerwise evaluate {html.escape(where)} test.csv</code></pre>"
    )
    return out


def _size(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return ""
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""
