"""Geometry of the waterfall picture: from the baseline risk, concept by concept, to the patient's risk.

Plain numbers for a server-side SVG template (no plotting or JavaScript library): each step is a bar from
the running total before a concept to the running total after it, on the risk-points scale, so the
picture adds up exactly like the numbers do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from serving.schemas import Concept

WIDTH = 720
LABEL_WIDTH = 190
VALUE_WIDTH = 64
ROW = 28
TOP = 30
BOTTOM = 34


@dataclass(frozen=True)
class Bar:
    label: str
    start: float  # risk in percent where the bar begins
    end: float
    kind: str  # "baseline", "raise", "lower", "total"
    value_text: str
    x: float = 0.0
    width: float = 0.0
    y: float = 0.0


@dataclass(frozen=True)
class Waterfall:
    width: int
    height: int
    plot_left: float
    plot_right: float
    bars: list[Bar]
    ticks: list[tuple[float, str]]  # (x, label)
    thresholds: list[tuple[float, str]]  # (x, label) of the decision thresholds inside the axis


def build(baseline_percent: float, risk_percent: float, concepts: list[Concept], top: int = 8,
          thresholds: Sequence[float] = ()) -> Waterfall:
    """Bars for the baseline, the ``top`` concepts by size, the rest together, and the patient's risk."""
    steps = [(_short(c.concept), c.risk_points) for c in concepts[:top]]
    rest = concepts[top:]
    if rest:
        steps.append((f"{len(rest)} other factors", sum(c.risk_points for c in rest)))
    bars = [Bar("Baseline risk", 0.0, baseline_percent, "baseline", f"{baseline_percent:.1f}%")]
    running = baseline_percent
    for label, points in steps:
        bars.append(Bar(label, running, running + points, "raise" if points >= 0 else "lower", f"{points:+.1f}"))
        running += points
    bars.append(Bar("This patient", 0.0, risk_percent, "total", f"{risk_percent:.1f}%"))
    return _layout(bars, [100 * t for t in thresholds])


def _short(label: str, limit: int = 28) -> str:
    return label if len(label) <= limit else label[:limit - 1].rstrip() + "…"


def _layout(bars: list[Bar], thresholds: list[float]) -> Waterfall:
    highest = max(max(b.start, b.end) for b in bars + [Bar("", 0, t, "", "") for t in thresholds])
    step = _nice_step(max(highest, 0.5) * 1.04 / 5)
    axis_max = step * math.ceil(max(highest, 0.5) * 1.04 / step)
    left, right = float(LABEL_WIDTH), float(WIDTH - VALUE_WIDTH)
    scale = (right - left) / axis_max

    def x_of(percent: float) -> float:
        return round(left + max(0.0, min(percent, axis_max)) * scale, 2)

    placed = [Bar(b.label, b.start, b.end, b.kind, b.value_text, x=x_of(min(b.start, b.end)),
                  width=round(max(abs(b.end - b.start) * scale, 1.5), 2), y=TOP + i * ROW)
              for i, b in enumerate(bars)]
    ticks = [(x_of(i * step), f"{i * step:g}%") for i in range(round(axis_max / step) + 1)]
    lines = [(x_of(t), f"{t:g}%") for t in thresholds if 0 < t <= axis_max]
    return Waterfall(width=WIDTH, height=TOP + len(bars) * ROW + BOTTOM, plot_left=left, plot_right=right,
                     bars=placed, ticks=ticks, thresholds=lines)


def _nice_step(at_least: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``at_least``, so ticks land on round numbers."""
    magnitude = 10 ** math.floor(math.log10(at_least))
    return next(f * magnitude for f in (1, 2, 2.5, 5, 10) if f * magnitude >= at_least)
