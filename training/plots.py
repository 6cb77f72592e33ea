"""Evaluation figures as PNG files: calibration plot and decision curve (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def calibration_plot(path: Path, y: np.ndarray, risks: dict[str, np.ndarray], bins: int = 10) -> Path:
    """Observed event rate against mean predicted risk, per decile of predicted risk."""
    fig, ax = plt.subplots(figsize=(5, 5))
    top = 0.0
    for label, risk in risks.items():
        edges = np.unique(np.quantile(risk, np.linspace(0, 1, bins + 1)))
        groups = max(len(edges) - 1, 1)  # a constant predictor is one group
        which = np.clip(np.searchsorted(edges, risk, side="right") - 1, 0, groups - 1)
        predicted = [risk[which == b].mean() for b in range(groups) if (which == b).any()]
        observed = [y[which == b].mean() for b in range(groups) if (which == b).any()]
        ax.plot(predicted, observed, marker="o", label=label)
        top = max(top, *predicted, *observed)
    ax.plot([0, top], [0, top], color="grey", linestyle="--", label="ideal")
    ax.set(xlabel="Predicted risk (decile mean)", ylabel="Observed event rate", title="Calibration (test patients)")
    ax.legend()
    return _save(fig, path)


def decision_curve(path: Path, curves: dict[str, dict[str, list[float]]]) -> Path:
    """Net benefit over the spec's threshold range, with treat-all and treat-none."""
    fig, ax = plt.subplots(figsize=(6, 4))
    first = next(iter(curves.values()))
    for label, curve in curves.items():
        ax.plot(curve["threshold"], curve["model"], label=label)
    ax.plot(first["threshold"], first["treat_all"], color="grey", label="treat all")
    ax.axhline(0, color="black", linewidth=0.8, label="treat none")
    low = min(min(c["model"]) for c in curves.values())
    ax.set_ylim(max(low, -0.05), max(max(c["model"]) for c in curves.values()) * 1.1 + 1e-3)
    ax.set(xlabel="Threshold probability", ylabel="Net benefit", title="Decision curve (test patients)")
    ax.legend()
    return _save(fig, path)


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
