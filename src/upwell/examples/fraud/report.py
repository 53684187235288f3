"""The fraud example's report: ``report.json`` (numbers) and ``report.html`` (a page with plots).

The HTML page is self-contained: its figures (ROC and precision-recall curves per model, daily
card precision@100 per model, the live latency histogram) are PNG images embedded as base64,
drawn with matplotlib's object API (no global pyplot state, no display needed).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import precision_recall_curve, roc_curve

from upwell.errors import UpwellError
from upwell.examples.fraud.evaluation import card_precision_at_k

__all__ = ["REQUIRED_KEYS", "ReportError", "ScoredSet", "latency_summary", "write_report"]

REQUIRED_KEYS = (
    "models",
    "online_equals_offline",
    "latency_us",
    "throughput_events_per_s",
    "versions",
)
"""Keys every summary must have; any other key is written too."""

_METRICS = ("auc_roc", "average_precision", "card_precision_at_100")


class ReportError(UpwellError, ValueError):
    """The summary or the plot data are incomplete; the message names what is missing."""


@dataclass(frozen=True, kw_only=True)
class ScoredSet:
    """One model's scores on the test set, with what the plots need (all the same length).

    Attributes:
        scores: Fraud scores.
        labels: ``TX_FRAUD`` (0 or 1).
        days: ``TX_TIME_DAYS``.
        customer_ids: ``CUSTOMER_ID``.
    """

    scores: ArrayLike
    labels: ArrayLike
    days: ArrayLike
    customer_ids: ArrayLike

    def frame(self) -> pd.DataFrame:
        """The set as the columns ``card_precision_at_k`` reads."""
        return pd.DataFrame(
            {
                "predictions": np.asarray(self.scores, dtype=np.float64),
                "TX_FRAUD": np.asarray(self.labels, dtype=np.int64),
                "TX_TIME_DAYS": np.asarray(self.days, dtype=np.int64),
                "CUSTOMER_ID": np.asarray(self.customer_ids, dtype=np.int64),
            }
        )


def latency_summary(samples_us: ArrayLike) -> dict[str, float]:
    """Median, 99th percentile and maximum of latency samples in microseconds."""
    samples = np.asarray(samples_us, dtype=np.float64)
    if samples.size == 0:
        what = "no latency samples"
        raise ReportError(what, where="latency_summary", fix="time some calls.")
    return {
        "p50": float(np.percentile(samples, 50)),
        "p99": float(np.percentile(samples, 99)),
        "max": float(samples.max()),
    }


def _plain(value: Any) -> Any:
    """JSON-ready copy: NumPy scalars and arrays as Python values, NaN and infinity as null."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _curves_figure(scored: Mapping[str, ScoredSet]) -> Figure:
    fig = Figure(figsize=(11, 4.5))
    roc, pr = fig.subplots(1, 2)
    for name, s in scored.items():
        labels, scores = np.asarray(s.labels), np.asarray(s.scores, dtype=np.float64)
        fpr, tpr, _ = roc_curve(labels, scores)
        precision, recall, _ = precision_recall_curve(labels, scores)
        roc.plot(fpr, tpr, label=name)
        pr.step(recall, precision, where="post", label=name)
    roc.plot([0, 1], [0, 1], color="grey", linestyle=":", label="random")
    roc.set(
        title="ROC curve (test week)", xlabel="false positive rate", ylabel="true positive rate"
    )
    pr.set(title="Precision-recall curve (test week)", xlabel="recall", ylabel="precision")
    for ax in (roc, pr):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return fig


def _daily_precision_figure(scored: Mapping[str, ScoredSet]) -> Figure:
    fig = Figure(figsize=(11, 4))
    ax = fig.subplots()
    for name, s in scored.items():
        frame = s.frame()
        _, daily = card_precision_at_k(frame, 100)
        ax.plot(sorted(frame["TX_TIME_DAYS"].unique()), daily, marker="o", label=name)
    ax.set(title="Card precision@100 per test day", xlabel="day (TX_TIME_DAYS)", ylabel="CP@100")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def _latency_figure(samples_us: NDArray[np.float64]) -> Figure:
    fig = Figure(figsize=(11, 4))
    ax = fig.subplots()
    low, high = max(float(samples_us.min()), 1e-3), max(float(samples_us.max()), 1e-3)
    bins: list[float] | int = np.geomspace(low, high * 1.0001, 60).tolist() if high > low else 10
    ax.hist(samples_us, bins=bins, color="tab:blue", alpha=0.8)
    ax.set_xscale("log")
    for q, style in ((50, "--"), (99, ":")):
        value = float(np.percentile(samples_us, q))
        ax.axvline(value, color="black", linestyle=style, label=f"p{q} = {value:,.1f} µs")
    ax.set(title=f"Live latency ({samples_us.size:,} samples)", xlabel="µs")
    ax.set_ylabel("transactions")
    ax.legend(fontsize="small")
    return fig


def _metrics_table(models: Mapping[str, Any]) -> str:
    head = "".join(
        f"<th>{split} {html.escape(m)}</th>" for split in ("test", "train") for m in _METRICS
    )
    rows = []
    for name, result in models.items():
        cells = []
        for split in ("test", "train"):
            values = result.get(split, {}) if isinstance(result, Mapping) else {}
            for m in _METRICS:
                v = values.get(m)
                cells.append(f"<td>{v:.3f}</td>" if isinstance(v, int | float) else "<td>-</td>")
        rows.append(f"<tr><th>{html.escape(str(name))}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th>model</th>{head}</tr>{''.join(rows)}</table>"


_STYLE = (
    "body{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
    "text-align:right}th:first-child{text-align:left}pre{background:#f6f6f6;padding:1em;"
    "overflow:auto}img{max-width:100%}"
)


def _html(summary: Mapping[str, Any], figures: Sequence[tuple[str, str, str]]) -> str:
    latency = summary["latency_us"]
    p50, p99, top = (f"{float(latency.get(k, math.nan)):,.1f}" for k in ("p50", "p99", "max"))
    facts = [
        ("online == offline", summary["online_equals_offline"]),
        ("latency p50 / p99 / max (µs)", f"{p50} / {p99} / {top}"),
        ("throughput (events/s)", f"{float(summary['throughput_events_per_s']):,.0f}"),
    ]
    fact_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts
    )
    images = "".join(
        f"<h2>{html.escape(title)}</h2><p>{html.escape(caption)}</p>"
        f"<img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>"
        for title, png, caption in figures
    )
    details = html.escape(json.dumps(_plain(summary), indent=2))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>upwell fraud example report</title><style>{_STYLE}</style></head><body>"
        "<h1>Fraud detection: the handbook's baseline, served live</h1>"
        f"<h2>Metrics</h2>{_metrics_table(summary['models'])}"
        f"<h2>Live path</h2><table>{fact_rows}</table>{images}"
        f"<details><summary>Everything in report.json</summary><pre>{details}</pre></details>"
        "</body></html>"
    )


def write_report(
    out_dir: str | Path,
    summary: Mapping[str, Any],
    *,
    test_scores: Mapping[str, ScoredSet] | None = None,
    latency_samples_us: ArrayLike | None = None,
) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``out_dir``.

    Args:
        out_dir: Output directory (created if missing).
        summary: ``{"models": {name: {"test": {...}, "train": {...}}},
            "online_equals_offline": bool, "latency_us": {"p50", "p99", "max"},
            "throughput_events_per_s": float, "versions": {...}}`` plus any other keys; it is
            written to ``report.json`` as given (NumPy values converted, NaN as null).
        test_scores: Per model, its test-set scores, labels, days and customer ids: draws the
            ROC, precision-recall and daily card-precision figures.
        latency_samples_us: Live latency samples in µs: draws the latency histogram.

    Returns:
        The paths of ``report.json`` and ``report.html``.

    Raises:
        ReportError: If a required key is missing or there are no latency samples to draw.
    """
    missing = [k for k in REQUIRED_KEYS if k not in summary]
    if missing:
        fix = f"pass a summary with the keys {list(REQUIRED_KEYS)}."
        what = f"summary lacks {missing}"
        raise ReportError(what, where="write_report", fix=fix)
    figures = []
    if test_scores:
        curves = _png(_curves_figure(test_scores))
        figures.append(("ROC and precision-recall curves", curves, "Test week, every model."))
        daily = _png(_daily_precision_figure(test_scores))
        figures.append(("Daily card precision@100", daily, "Cards already detected are dropped."))
    if latency_samples_us is not None:
        samples = np.asarray(latency_samples_us, dtype=np.float64)
        latency_summary(samples)  # rejects an empty sample
        what = str(summary["latency_us"].get("what", ""))
        figures.append(("Live latency distribution", _png(_latency_figure(samples)), what))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "report.json", out / "report.html"
    json_path.write_text(
        json.dumps(_plain(summary), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    html_path.write_text(_html(summary, figures), encoding="utf-8")
    return json_path, html_path
