"""What any randomised trial can say about a treatment-effect model on patients it never saw (no truth needed).

Per arm: the model's mean predicted outcome beside the observed one (the mean, or Kaplan-Meier's risk by the
horizon) with a 95% CI. Per compared arm: the best-linear-predictor slope and the group average effects (GATES)
of ``training.treatment.evaluate.effect_calibration``. And the model's rule (each patient's best predicted arm)
against treat-all rules (every arm, the reference being "treat none") and any rule the spec declares, each with a
patient-bootstrap CI. A time-to-event outcome enters the contrasts as jackknife pseudo-observations of the
Kaplan-Meier risk by the horizon (Andersen and Perme 2010), whose conditional mean is the risk, so censoring is
modelled rather than dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm
from sksurv.nonparametric import kaplan_meier_estimator

from training.treatment.evaluate import effect_calibration


def km_risk(time: np.ndarray, event: np.ndarray, horizon: float, level: float = 0.95) -> tuple[float, float, float]:
    """Kaplan-Meier risk by ``horizon`` with its log-log CI at ``level`` (Greenwood)."""
    times, survival, ci = kaplan_meier_estimator(event.astype(bool), time, conf_type="log-log", conf_level=level)
    at = np.searchsorted(times, horizon, side="right") - 1
    if at < 0:
        return 0.0, 0.0, 0.0
    return float(1 - survival[at]), float(1 - ci[1][at]), float(1 - ci[0][at])


def _km_at(time: np.ndarray, event: np.ndarray, horizon: float) -> float:
    order = np.argsort(time, kind="stable")
    t, e = time[order], event[order]
    at_risk = len(t) - np.arange(len(t))
    factors = np.where((e == 1) & (t <= horizon), 1 - 1 / at_risk, 1.0)
    return float(1 - np.prod(factors))


def pseudo_risk(time: np.ndarray, event: np.ndarray, horizon: float) -> np.ndarray:
    """Each patient's jackknife pseudo-observation of the Kaplan-Meier risk by ``horizon``:
    n * risk - (n - 1) * risk without that patient. Patients with the same (time, event) share one value."""
    n = len(time)
    full = _km_at(time, event, horizon)
    out = np.empty(n)
    pairs: dict[tuple[float, float], float] = {}
    for i in range(n):
        key = (float(time[i]), float(event[i]))
        if key not in pairs:
            keep = np.ones(n, dtype=bool)
            keep[i] = False
            pairs[key] = n * full - (n - 1) * _km_at(time[keep], event[keep], horizon)
        out[i] = pairs[key]
    return out


def arm_calibration(arms: list[str], arm: np.ndarray, predicted: np.ndarray, y: np.ndarray, event: np.ndarray | None,
                    horizon: float | None) -> list[dict[str, Any]]:
    """Per arm, on its own randomised patients: mean predicted outcome under that arm beside the observed one.

    The observed CIs are Bonferroni-adjusted over the arms (level 1 - 0.05 / arms), so "every arm inside its CI"
    fails a calibrated model at most 5% of the time, however many arms the trial has."""
    rows = []
    level = 1 - 0.05 / len(arms)
    z = float(norm.ppf(1 - (1 - level) / 2))
    for i, name in enumerate(arms):
        mine = arm == i
        if event is not None and horizon is not None:
            observed, low, high = km_risk(y[mine], event[mine], horizon, level)
        else:
            values = y[mine]
            observed = float(values.mean())
            half = z * float(values.std(ddof=1)) / np.sqrt(len(values)) if len(values) > 1 else np.inf
            low, high = observed - half, observed + half
        mean_predicted = float(predicted[i][mine].mean())
        rows.append({"arm": name, "n": int(mine.sum()), "mean_predicted": mean_predicted, "observed": observed,
                     "ci_level": level,
                     "observed_ci_low": low, "observed_ci_high": high,
                     "within_ci": bool(low <= mean_predicted <= high)})
    return rows


def rule_value(choice: np.ndarray, arm: np.ndarray, y: np.ndarray, n_arms: int) -> float:
    """A rule's mean outcome from the trial: sum over arms of P(rule picks a) x mean outcome of the patients it
    picks who were randomised to a (randomisation makes them a fair sample of what a does for the rest)."""
    value = 0.0
    for a in range(n_arms):
        picked = choice == a
        followed = picked & (arm == a)
        if picked.any():
            value += picked.mean() * (y[followed].mean() if followed.any() else np.nan)
    return float(value)


def policy_estimates(policies: dict[str, np.ndarray], arm: np.ndarray, y: np.ndarray, n_arms: int,
                     n_boot: int, seed: int) -> dict[str, dict[str, Any]]:
    """Each rule's estimated value with a patient-bootstrap 95% CI (NaN resamples dropped)."""
    rng = np.random.default_rng(seed)
    boots = rng.integers(0, len(y), (n_boot, len(y)))
    out: dict[str, dict[str, Any]] = {}
    for name, choice in policies.items():
        samples = np.array([rule_value(choice[b], arm[b], y[b], n_arms) for b in boots])
        samples = samples[np.isfinite(samples)]
        out[name] = {"policy": name, "value": rule_value(choice, arm, y, n_arms),
                     "ci_low": float(np.quantile(samples, 0.025)) if len(samples) else np.nan,
                     "ci_high": float(np.quantile(samples, 0.975)) if len(samples) else np.nan,
                     "share_by_arm": [float(np.mean(choice == a)) for a in range(n_arms)]}
    return out


def paired_difference(a: np.ndarray, b: np.ndarray, arm: np.ndarray, y: np.ndarray, n_arms: int, n_boot: int,
                      seed: int) -> tuple[float, float, float]:
    """value(rule a) - value(rule b) with a paired patient-bootstrap 95% CI (same resamples for both)."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        rows = rng.integers(0, len(y), len(y))
        diffs.append(rule_value(a[rows], arm[rows], y[rows], n_arms) - rule_value(b[rows], arm[rows], y[rows], n_arms))
    d = np.array(diffs)
    d = d[np.isfinite(d)]
    point = rule_value(a, arm, y, n_arms) - rule_value(b, arm, y, n_arms)
    if not len(d):
        return point, np.nan, np.nan
    return point, float(np.quantile(d, 0.025)), float(np.quantile(d, 0.975))


def blp_and_gates(effect: np.ndarray, arm: np.ndarray, y: np.ndarray, compared: int, groups: int
                  ) -> tuple[dict[str, float], list[dict[str, float]]]:
    """BLP slope and GATES of one compared arm's estimated effect, on the reference and that arm's patients."""
    pair = (arm == 0) | (arm == compared)
    treated = (arm[pair] == compared).astype(int)
    return effect_calibration(effect[pair], treated, y[pair], groups=groups)
