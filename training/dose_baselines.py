"""Published warfarin dosing baselines: the IWPC 2009 pharmacogenetic and clinical algorithms, and 35 mg/week.

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
    root = sum(beta * _term(patients, name) for name, beta in coefficients.items())
    return np.square(root)


def baseline_doses(patients: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every baseline's weekly dose for these patients, by name."""
    return {
        "iwpc_pharmacogenetic": iwpc_dose(patients, PHARMACOGENETIC),
        "iwpc_clinical": iwpc_dose(patients, CLINICAL),
        "fixed_35mg_week": np.full(len(patients), FIXED_DOSE_MG_WEEK),
    }


def refit_iwpc_form(patients: pd.DataFrame, dose: np.ndarray) -> dict[str, float]:
    """The IWPC pharmacogenetic model form (same terms, sqrt dose) refitted by least squares on ``patients``.

    The published coefficients were estimated on most of the IWPC cohort, so on IWPC patients they are
    partly in-sample; refitting the same form on the training sites only gives the linear model a fair,
    site-held-out comparison with the boosted one.
    """
    names = list(PHARMACOGENETIC)
    columns = [_term(patients, name) for name in names]
    design = np.column_stack(columns)
    coef, *_ = np.linalg.lstsq(design, np.sqrt(dose), rcond=None)
    return dict(zip(names, map(float, coef), strict=True))


def _term(patients: pd.DataFrame, name: str) -> np.ndarray:
    if name == "intercept":
        return np.ones(len(patients))
    if name.startswith("vkorc1_"):
        return (patients["vkorc1_1639_genotype"] == name.removeprefix("vkorc1_")).to_numpy(dtype=float)
    if name.startswith("cyp2c9_"):
        return (patients["cyp2c9_genotype"] == name.removeprefix("cyp2c9_")).to_numpy(dtype=float)
    return patients[name].to_numpy(dtype=float)
