"""Patient traits at the index date: demographics, lifestyle, measured risk factors, diagnoses, drugs.

Risk factors depend on each other the way clinicians expect (BMI raises SBP and HbA1c and lowers HDL;
age raises LDL and SBP; statins lower LDL; treated hypertension has lower SBP), so the models face
realistic correlation, not independent columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.sim.truth import sigmoid
from features.sim.variants import ANCESTRIES, ANCESTRY_SHARES


def draw_demographics(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "age": rng.uniform(35, 80, n).round(2),
        "male": (rng.random(n) < 0.48).astype(int),
        "ancestry": rng.choice(ANCESTRIES, n, p=ANCESTRY_SHARES),
        "site": rng.choice(["site_a", "site_b", "site_c", "site_d"], n, p=[0.4, 0.3, 0.2, 0.1]),
    })


def draw_lifestyle(rng: np.random.Generator, n: int) -> pd.DataFrame:
    status = rng.choice(["never", "former", "current"], n, p=[0.57, 0.25, 0.18])
    pack_years = np.where(status == "never", 0.0, rng.gamma(2.0, np.where(status == "current", 10.0, 7.5)))
    return pd.DataFrame({
        "smoking_status": status,
        "current_smoker": (status == "current").astype(int),
        "pack_years": np.clip(pack_years, 0, 150).round(1),
        "activity": np.clip(rng.gamma(2.0, 75.0, n), 0, 1500).round(0),
        "alcohol": np.clip(rng.gamma(1.2, 5.0, n), 0, 80).round(1),
        "diet": np.clip(rng.normal(5.5, 1.8, n), 0, 10).round(1),
        "sleep": np.clip(rng.normal(7.0, 1.0, n), 3, 12).round(1),
    })


def draw_clinical(rng: np.random.Generator, t: pd.DataFrame) -> pd.DataFrame:
    """Measured values and diagnoses at index, given demographics, lifestyle and PRS z-scores."""
    n = len(t)
    age_c = t["age"] - 55
    bmi = np.clip(rng.normal(27.5, 4.5, n) - 0.004 * (t["activity"] - 150) - 0.3 * (t["diet"] - 5.5), 16, 55)
    t2d = (rng.random(n) < sigmoid(-3.3 + 0.12 * (bmi - 27) + 0.04 * age_c + 0.5 * t["t2d_prs_z"])).astype(int)
    hba1c = np.where(t2d == 1, np.clip(rng.normal(7.2, 1.0, n), 5.7, 13.0),
                     np.clip(rng.normal(5.4 + 0.03 * (bmi - 27) + 0.006 * age_c + 0.12 * t["t2d_prs_z"], 0.35),
                             4.2, 6.4))
    sbp_untreated = np.clip(rng.normal(124 + 0.5 * age_c + 0.8 * (bmi - 27) + 4 * t["male"], 15), 90, 220)
    hypertension = ((sbp_untreated >= 140) & (rng.random(n) < 0.7) | (rng.random(n) < 0.04)).astype(int)
    antihypertensive = (hypertension == 1) & (rng.random(n) < 0.75)
    sbp = np.clip(np.where(antihypertensive, sbp_untreated - rng.normal(12, 4, n), sbp_untreated), 80, 230)
    ldl_untreated = np.clip(rng.normal(125 + 0.25 * age_c + 5 * t["cad_prs_z"], 30), 45, 300)
    statin = rng.random(n) < sigmoid(-2.3 + 0.02 * (ldl_untreated - 130) + 0.04 * age_c + 1.0 * t2d)
    ldl = np.where(statin, ldl_untreated * rng.uniform(0.55, 0.75, n), ldl_untreated)
    hdl = np.clip(rng.normal(53 - 8 * t["male"] - 0.5 * (bmi - 27) + 0.02 * (t["activity"] - 150), 11), 20, 110)
    total = ldl + hdl + np.clip(rng.normal(28, 8, n), 8, 80)
    return pd.DataFrame({
        "bmi": bmi.round(1), "t2d": t2d, "hba1c": hba1c.round(1), "sbp": sbp.round(0),
        "hypertension": hypertension, "antihypertensive": antihypertensive.astype(int),
        "ldl": ldl.round(0), "statin": statin.astype(int), "hdl": hdl.round(0), "total_chol": total.round(0),
    })
