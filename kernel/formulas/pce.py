"""The Pooled Cohort Equations (ACC/AHA 2013; Goff DC et al., Circulation 2014;129(suppl 2):S49-S73):
10-year hard ASCVD risk = 1 - S10 ** exp(sum(beta * x) - mean), with sex- and race-specific coefficients
(white / African-American). They are defined for ages 40-79; values outside the validated input ranges
are clipped to them here, as the ACC/AHA calculator does. The outcome differs slightly from our CAD
endpoint (ASCVD includes stroke), which is the usual caveat of this comparison.
"""

from __future__ import annotations

import numpy as np

# terms: ln_age, ln_age_sq, ln_tc, ln_age_ln_tc, ln_hdl, ln_age_ln_hdl, ln_sbp_treated, ln_age_ln_sbp_treated,
#        ln_sbp_untreated, ln_age_ln_sbp_untreated, smoker, ln_age_smoker, diabetes
PCE = {
    ("female", "white"): ((-29.799, 4.884, 13.540, -3.114, -13.578, 3.149, 2.019, 0, 1.957, 0, 7.574, -1.665, 0.661),
                          -29.18, 0.9665),
    ("female", "black"): ((17.114, 0, 0.940, 0, -18.920, 4.475, 29.291, -6.432, 27.820, -6.087, 0.691, 0, 0.874),
                          86.61, 0.9533),
    ("male", "white"): ((12.344, 0, 11.853, -2.664, -7.990, 1.769, 1.797, 0, 1.764, 0, 7.837, -1.795, 0.658),
                        61.18, 0.9144),
    ("male", "black"): ((2.469, 0, 0.302, 0, -0.307, 0, 1.916, 0, 1.809, 0, 0.549, 0, 0.645), 19.54, 0.8954),
}


def pooled_cohort_risk(age: np.ndarray, male: np.ndarray, black: np.ndarray, total_chol: np.ndarray,
                       hdl: np.ndarray, sbp: np.ndarray, bp_treated: np.ndarray, smoker: np.ndarray,
                       diabetes: np.ndarray) -> np.ndarray:
    """10-year ASCVD risk per patient (arrays of equal length; cholesterol in mg/dL, SBP in mmHg)."""
    ln_age = np.log(np.clip(age, 40, 79))
    ln_tc, ln_hdl = np.log(np.clip(total_chol, 130, 320)), np.log(np.clip(hdl, 20, 100))
    ln_sbp = np.log(np.clip(sbp, 90, 200))
    treated = bp_treated.astype(bool)
    terms = np.stack([ln_age, ln_age**2, ln_tc, ln_age * ln_tc, ln_hdl, ln_age * ln_hdl,
                      ln_sbp * treated, ln_age * ln_sbp * treated, ln_sbp * ~treated, ln_age * ln_sbp * ~treated,
                      smoker, ln_age * smoker, diabetes], axis=1)
    risk = np.full(len(age), np.nan)
    for (sex, race), (beta, mean, s10) in PCE.items():
        group = (male.astype(bool) == (sex == "male")) & (black.astype(bool) == (race == "black"))
        risk[group] = 1 - s10 ** np.exp(terms[group] @ np.asarray(beta) - mean)
    return risk
