"""Metrics of a treatment-response model against the simulator's truth, as plain data.

Effects are arm 1 (alternative) minus arm 0 (clopidogrel) on the outcome scale; a lower outcome is
better (fewer events, lower platelet reactivity), so a rule gives the alternative where the effect is < 0.
A policy's value is the mean TRUE outcome of the patients had each received the arm the rule picks;
regret is that value minus the oracle's (which picks each patient's better arm), so the oracle scores 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CPIC_ALTERNATIVE = ("Poor Metabolizer", "Intermediate Metabolizer")


def cpic_rule(phenotype: pd.Series | np.ndarray) -> np.ndarray:
    """CPIC 2022, ACS/PCI: poor or intermediate CYP2C19 metabolizer -> alternative (1); else clopidogrel (0).

    An uncallable phenotype gets clopidogrel, the standard of care when no genotype is available.
    """
    return np.isin(np.asarray(phenotype, dtype=object), CPIC_ALTERNATIVE).astype(int)


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
                 outcome_treated: np.ndarray) -> list[dict[str, float | str]]:
    """Value, regret against the oracle, and share given the alternative, for each named rule."""
    oracle = (outcome_treated < outcome_reference).astype(int)
    best = policy_value(oracle, outcome_reference, outcome_treated)
    rows = []
    for name, choice in {"oracle": oracle, **policies}.items():
        value = policy_value(choice, outcome_reference, outcome_treated)
        rows.append({"policy": name, "value": value, "regret": value - best,
                     "share_alternative": float(np.mean(choice))})
    return rows


def standard_policies(n: int, phenotype: pd.Series | np.ndarray) -> dict[str, np.ndarray]:
    return {"all clopidogrel": np.zeros(n, dtype=int), "all ticagrelor": np.ones(n, dtype=int),
            "CPIC rule (PM/IM -> ticagrelor)": cpic_rule(phenotype)}
