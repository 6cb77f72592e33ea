"""Published warfarin dosing: the IWPC 2009 pharmacogenetic and clinical algorithms, 35 mg/week, IWPC dose bands.

Both IWPC algorithms predict the square root of the stable weekly dose (mg/week) from age in decades
(1 = 10-19 years ... 9 = 90+), height (cm), weight (kg), race (OMB; White is the reference), enzyme
inducer (carbamazepine, phenytoin or rifampin) and amiodarone; the pharmacogenetic one adds VKORC1
-1639 and CYP2C9 genotypes with "unknown" categories. Coefficients: IWPC, N Engl J Med 2009;360:753-64,
Supplementary Appendix; checked against two independent MIT-licensed re-implementations that cite it
(UPenn ``WarfarinDosingOracle``, 2023; ``reil`` IWPC dosing protocol), which agree digit for digit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FIXED_DOSE_MG_WEEK = 35.0  # 5 mg/day, the usual empirical start
LOW_DOSE_MG_WEEK, HIGH_DOSE_MG_WEEK = 21.0, 49.0  # IWPC's low (<= 21) and high (>= 49) dose groups

PHARMACOGENETIC: dict[str, float] = {
    "intercept": 5.6044, "age_decade": -0.2614, "height_cm": 0.0087, "weight_kg": 0.0128,
    "vkorc1_A/G": -0.8677, "vkorc1_A/A": -1.6974, "vkorc1_unknown": -0.4854,
    "cyp2c9_*1/*2": -0.5211, "cyp2c9_*1/*3": -0.9357, "cyp2c9_*2/*2": -1.0616, "cyp2c9_*2/*3": -1.9206,
    "cyp2c9_*3/*3": -2.3312, "cyp2c9_unknown": -0.2188,
    "race_asian": -0.1092, "race_black": -0.2760, "race_unknown": -0.1032,
    "enzyme_inducer": 1.1816, "amiodarone": -0.5503,
}
CLINICAL: dict[str, float] = {
    "intercept": 4.0376, "age_decade": -0.2546, "height_cm": 0.0118, "weight_kg": 0.0134,
    "race_asian": -0.6752, "race_black": 0.4060, "race_unknown": 0.0443,
    "enzyme_inducer": 1.2799, "amiodarone": -0.5695,
}
INPUTS = ["age_decade", "height_cm", "weight_kg", "race_asian", "race_black", "race_unknown", "enzyme_inducer",
          "amiodarone", "vkorc1_1639_genotype", "cyp2c9_genotype"]


def iwpc_dose(patients: pd.DataFrame, coefficients: dict[str, float]) -> np.ndarray:
    """Weekly dose (mg) by one IWPC algorithm: the linear predictor on the square-root scale, squared.

    ``patients`` has the columns in ``INPUTS`` (genotypes as "A/G", "*1/*3" or "unknown"); a patient
    missing a numeric input gets NaN, never a silent default.
    """
    missing = [c for c in INPUTS if c not in patients.columns]
    if missing:
        raise KeyError(f"IWPC algorithm needs column(s) {', '.join(missing)}")
    root = sum(beta * design_term(patients, name) for name, beta in coefficients.items())
    return np.square(root)


def design_term(patients: pd.DataFrame, name: str) -> np.ndarray:
    """One column of the IWPC design: 1 for the intercept, a genotype indicator, or the numeric input."""
    if name == "intercept":
        return np.ones(len(patients))
    if name.startswith("vkorc1_"):
        return (patients["vkorc1_1639_genotype"] == name.removeprefix("vkorc1_")).to_numpy(dtype=float)
    if name.startswith("cyp2c9_"):
        return (patients["cyp2c9_genotype"] == name.removeprefix("cyp2c9_")).to_numpy(dtype=float)
    return patients[name].to_numpy(dtype=float)
