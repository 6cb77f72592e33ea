"""The ground-truth risk model of the simulated cohort. Every coefficient here is documented in
docs/simulator.md; change one, change the other.

Both outcomes are logistic in the patient's values AT THE INDEX DATE, the same values the raw files
record as the most recent measurement before the index date. A model that sees the feature table can
therefore, in principle, reach the oracle (the true risk), apart from the few values that are missing.

CAD, 10 years (log-odds):
    -3.6 + 0.065 (age - 55) + 0.8 male + 0.011 (LDL - 120) - 0.018 (HDL - 50) + 0.018 (SBP - 125)
    + 0.65 current smoker + 0.55 T2D - 0.25 statin - 0.0015 (activity - 150) + 0.45 CAD-PRS(z)
    + 0.004 (LDL - 120) * CAD-PRS(z)          [genetic risk amplifies the LDL effect]
    - 0.02 (age - 55) * current smoker        [smoking matters relatively more when young]
    + 0.0012 max(age - 60, 0)^2               [risk accelerates in old age]
    + 0.3 (sleep - 7)^2                       [U-shaped: short and long sleep both riskier]
T2D, 5 years, patients without T2D at index (log-odds):
    -3.45 + 0.13 (BMI - 27) + 0.6 (HbA1c - 5.4) + 2.5 max(HbA1c - 5.7, 0)   [steep above prediabetes]
    + 0.025 (age - 55) + 0.45 T2D-PRS(z) - 0.002 (activity - 150) - 0.12 (diet - 5.5)
    + 0.25 hypertension + 0.05 (BMI - 27) * T2D-PRS(z) + 0.3 (sleep - 7)^2
PRS(z) is the weighted effect-allele sum standardised to mean 0, SD 1 over the simulated cohort.

Event times (``event_days``): proportional hazards with a Weibull baseline, anchored at the outcome's horizon,
    S(t | x) = (1 - r(x)) ** ((t / T_h) ** k),   T_h = horizon in days (10 x 365.25 for CAD, 5 x 365.25 for T2D)
so P(event by T_h) is exactly the logistic risk r(x) above (the oracle at the horizon is unchanged) and the true
risk at any other time is known. k > 1: incidence rises with time since index, as it does with ageing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def cad_10y_logit(t: pd.DataFrame) -> np.ndarray:
    smoker = t["current_smoker"]
    return (-3.6 + 0.065 * (t["age"] - 55) + 0.8 * t["male"] + 0.011 * (t["ldl"] - 120)
            - 0.018 * (t["hdl"] - 50) + 0.018 * (t["sbp"] - 125) + 0.65 * smoker + 0.55 * t["t2d"]
            - 0.25 * t["statin"] - 0.0015 * (t["activity"] - 150) + 0.45 * t["cad_prs_z"]
            + 0.004 * (t["ldl"] - 120) * t["cad_prs_z"] - 0.02 * (t["age"] - 55) * smoker
            + 0.0012 * np.maximum(t["age"] - 60, 0) ** 2
            + 0.3 * (t["sleep"] - 7) ** 2).to_numpy()


def t2d_5y_logit(t: pd.DataFrame) -> np.ndarray:
    return (-3.45 + 0.13 * (t["bmi"] - 27) + 0.6 * (t["hba1c"] - 5.4) + 2.5 * np.maximum(t["hba1c"] - 5.7, 0)
            + 0.025 * (t["age"] - 55) + 0.3 * (t["sleep"] - 7) ** 2
            + 0.45 * t["t2d_prs_z"] - 0.002 * (t["activity"] - 150) - 0.12 * (t["diet"] - 5.5)
            + 0.25 * t["hypertension"] + 0.05 * (t["bmi"] - 27) * t["t2d_prs_z"]).to_numpy()


DAYS_PER_YEAR = 365.25
CAD_HORIZON_DAYS = 10 * DAYS_PER_YEAR
T2D_HORIZON_DAYS = 5 * DAYS_PER_YEAR
CAD_WEIBULL_SHAPE = 1.3
T2D_WEIBULL_SHAPE = 1.1


def true_risk_at(risk_at_horizon: np.ndarray, days: float | np.ndarray, horizon_days: float,
                 shape: float) -> np.ndarray:
    """The true P(event by ``days``) under S(t | x) = (1 - r) ** ((t / horizon) ** shape)."""
    ratio = (np.asarray(days, dtype=np.float64) / horizon_days) ** shape
    return -np.expm1(ratio * np.log1p(-np.asarray(risk_at_horizon, dtype=np.float64)))


def event_days(u: np.ndarray, risk_at_horizon: np.ndarray, horizon_days: float, shape: float) -> np.ndarray:
    """Event times in (fractional) days by inversion: S(T | x) = 1 - u, so T <= horizon exactly when u < r.
    ``u`` ~ U(0, 1); a patient with r = 0 (not at risk) never has an event (inf)."""
    r = np.asarray(risk_at_horizon, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log1p(-u) / np.log1p(-r)
    return np.where(r > 0, horizon_days * ratio ** (1.0 / shape), np.inf)


def true_risks(traits: pd.DataFrame) -> pd.DataFrame:
    """True probabilities; NaN for T2D where the patient already has it (not at risk)."""
    t2d = np.where(traits["t2d"] == 1, np.nan, sigmoid(t2d_5y_logit(traits)))
    return pd.DataFrame({"true_risk_cad_10y": sigmoid(cad_10y_logit(traits)), "true_risk_t2d_5y": t2d})
