"""Metrics of a treatment-response model against the simulator's truth, as plain data.

Effects are arm 1 (alternative) minus arm 0 (clopidogrel) on the outcome scale; a lower outcome is
better (fewer events, lower platelet reactivity), so a rule gives the alternative where the effect is < 0.
A policy's value is the mean TRUE outcome of the patients had each received the arm the rule picks;
regret is that value minus the oracle's (which picks each patient's better arm), so the oracle scores 0.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import pandas as pd

from kernel.formulas.cpic import cpic_rule


class PolicyValue(TypedDict):
    """One rule's true value (``policy_table``): its mean true outcome, regret and share given the alternative."""

    policy: str
    value: float
    regret: float
    share_alternative: float


class PolicyEstimate(TypedDict):
    """One rule's value estimated from the trial alone (``estimated_policy_values``), with its 95% CIs."""

    policy: str
    value: float
    ci_low: float
    ci_high: float
    minus_reference: float
    minus_reference_ci_low: float
    minus_reference_ci_high: float
    share_alternative: float


def effect_metrics(estimate: np.ndarray, true_effect: np.ndarray, low: np.ndarray | None = None,
                   high: np.ndarray | None = None) -> dict[str, float]:
    """PEHE, ATE error, rank agreement and, with an interval, its coverage and mean width."""
    out = {"pehe": float(np.sqrt(np.mean((estimate - true_effect) ** 2))),
           "ate_abs_error": float(abs(estimate.mean() - true_effect.mean())),
           "spearman": float(pd.Series(estimate).corr(pd.Series(true_effect), method="spearman"))}
    if low is not None and high is not None:
        out["coverage_95"] = float(np.mean((low <= true_effect) & (true_effect <= high)))
        out["mean_width"] = float(np.mean(high - low))
    return out


def policy_value(choice: np.ndarray, outcome_reference: np.ndarray, outcome_treated: np.ndarray) -> float:
    """Mean true outcome when each patient gets arm ``choice`` (0/1)."""
    return float(np.mean(np.where(choice == 1, outcome_treated, outcome_reference)))


def policy_table(policies: dict[str, np.ndarray], outcome_reference: np.ndarray,
                 outcome_treated: np.ndarray) -> list[PolicyValue]:
    """Value, regret against the oracle, and share given the alternative, for each named rule."""
    oracle = (outcome_treated < outcome_reference).astype(int)
    best = policy_value(oracle, outcome_reference, outcome_treated)
    rows: list[PolicyValue] = []
    for name, choice in {"oracle": oracle, **policies}.items():
        value = policy_value(choice, outcome_reference, outcome_treated)
        rows.append({"policy": name, "value": value, "regret": value - best,
                     "share_alternative": float(np.mean(choice))})
    return rows


def standard_policies(n: int, phenotype: pd.Series | np.ndarray) -> dict[str, np.ndarray]:
    return {"all clopidogrel": np.zeros(n, dtype=int), "all ticagrelor": np.ones(n, dtype=int),
            "CPIC rule (PM/IM -> ticagrelor)": cpic_rule(phenotype)}


# Without truth: what a real randomised trial can say about a treatment-effect model on held-out patients.
# Randomisation makes the assigned arm independent of the covariates, so among patients a rule sends to
# arm a, those who were randomised to a are a fair sample of what a would do for them.

def estimated_policy_values(policies: dict[str, np.ndarray], treated: np.ndarray, y: np.ndarray,
                            reference: str, n_boot: int = 300, seed: int = 0) -> list[PolicyEstimate]:
    """Each rule's mean outcome estimated from the trial: sum over arms of P(rule picks a) x mean outcome of
    the patients it picks who were randomised to a; with a patient bootstrap 95% CI, and the difference from
    ``reference`` (a paired bootstrap, same resamples)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    boot = rng.integers(0, n, (n_boot, n))
    values = {name: _rule_value(choice, treated, y) for name, choice in policies.items()}
    draws = {name: np.array([_rule_value(choice[b], treated[b], y[b]) for b in boot])
             for name, choice in policies.items()}
    rows: list[PolicyEstimate] = []
    for name, choice in policies.items():
        diff = draws[name] - draws[reference]
        rows.append({"policy": name, "value": values[name], "ci_low": float(np.nanpercentile(draws[name], 2.5)),
                     "ci_high": float(np.nanpercentile(draws[name], 97.5)),
                     "minus_reference": values[name] - values[reference],
                     "minus_reference_ci_low": float(np.nanpercentile(diff, 2.5)),
                     "minus_reference_ci_high": float(np.nanpercentile(diff, 97.5)),
                     "share_alternative": float(np.mean(choice))})
    return rows


def _rule_value(choice: np.ndarray, treated: np.ndarray, y: np.ndarray) -> float:
    value = 0.0
    for arm in (0, 1):
        picked = choice == arm
        followed = picked & (treated == arm)
        if picked.any():
            value += picked.mean() * (y[followed].mean() if followed.any() else np.nan)
    return float(value)


def effect_calibration(estimate: np.ndarray, treated: np.ndarray, y: np.ndarray, groups: int = 5
                       ) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Does the model's effect ranking hold up on patients it never saw?

    The best-linear-predictor slope (Chernozhukov et al., 2018): the randomised-arm contrast
    y (t / p - (1 - t) / (1 - p)) regressed on the centred estimate. About 1 when the estimated effects are
    right in size, above 0 when they rank patients in the right order, 0 when they carry no information.
    And per group of the estimate (quintiles), the mean estimated effect beside the trial's own difference
    in means with its 95% CI (group average treatment effects, GATES).
    """
    p = float(np.mean(treated))
    contrast = y * (treated / p - (1 - treated) / (1 - p))
    centred = estimate - estimate.mean()
    design = np.column_stack([np.ones(len(y)), centred])
    coef, *_ = np.linalg.lstsq(design, contrast, rcond=None)
    residual = contrast - design @ coef
    bread = np.linalg.inv(design.T @ design)
    meat = design.T @ (design * residual[:, None] ** 2)
    se = float(np.sqrt((bread @ meat @ bread)[1, 1]))  # heteroskedasticity-robust (HC0)
    slope = float(coef[1])
    summary = {"blp_slope": slope, "blp_slope_ci_low": slope - 1.96 * se, "blp_slope_ci_high": slope + 1.96 * se,
               "estimated_ate": float(y[treated == 1].mean() - y[treated == 0].mean()),
               "mean_estimated_effect": float(estimate.mean())}
    edges = np.quantile(estimate, np.linspace(0, 1, groups + 1)[1:-1])
    group = np.searchsorted(edges, estimate, side="right")
    rows = [{"group": g + 1, "n": int(np.sum(group == g)), "mean_estimated_effect": float(estimate[group == g].mean()),
             **_difference(y, treated, group == g)} for g in range(groups)]
    return summary, rows


def _difference(y: np.ndarray, treated: np.ndarray, rows: np.ndarray) -> dict[str, float]:
    a, b = y[rows & (treated == 1)], y[rows & (treated == 0)]
    diff = float(a.mean() - b.mean())
    se = float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))
    return {"trial_difference": diff, "ci_low": diff - 1.96 * se, "ci_high": diff + 1.96 * se}
