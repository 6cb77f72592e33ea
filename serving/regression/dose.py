"""A dose-regression model's answer (warfarin, the one dose model served today): the weekly dose with its
interval, the IWPC dose beside it, exact drivers.

The booster's output (the margin) is on the fitted scale, the square root of mg/week for the IWPC-style
model; the bundle's ``dose_interval`` calibrator squares it back and holds the split-conformal interval.
TreeSHAP contributions add up to the margin, so they are reported on that scale and say so.

The IWPC pharmacogenetic dose is computed by ``kernel.formulas.iwpc`` (the one copy of the formula)
from the same validated feature row: the genotype categories it needs are read back from the allele
counts the model takes, the inverse of ``features.iwpc`` (a test checks the round trip on the cohort).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from kernel.artifact import ArtifactFeature
from kernel.calibration import DoseIntervalCalibrator
from kernel.formulas.iwpc import HIGH_DOSE_MG_WEEK, INPUTS, LOW_DOSE_MG_WEEK, PHARMACOGENETIC, iwpc_dose
from serving.explain import explain
from serving.flags import assess
from serving.regression.schemas import (
    DoseBand,
    DoseContribution,
    DoseEstimate,
    DoseExplanation,
    DoseInterval,
    PatientDose,
)
from serving.served import ServedModel

IWPC_SOURCE = ("IWPC pharmacogenetic algorithm (N Engl J Med 2009;360:753-64, published coefficients), "
               "not this model")
GENOTYPE_FEATURES = {"cyp2c9_genotype": ("cyp2c9_star2_count", "cyp2c9_star3_count"),
                     "vkorc1_1639_genotype": ("vkorc1_1639_a_count",)}
DOSE_BANDS_MG_WEEK = (LOW_DOSE_MG_WEEK, HIGH_DOSE_MG_WEEK)
RACE_FEATURES = ("race_asian", "race_black", "race_unknown")
VKORC1_1639 = {0: "G/G", 1: "A/G", 2: "A/A"}
_NUMERIC_INPUTS = [c for c in INPUTS if c not in GENOTYPE_FEATURES]


def cyp2c9_genotype(star2: float, star3: float) -> str:
    """The IWPC CYP2C9 category from the *2 and *3 allele counts; "unknown" unless both were typed."""
    if math.isnan(star2) or math.isnan(star3):
        return "unknown"
    s2, s3 = int(star2), int(star3)
    return "/".join(["*1"] * (2 - s2 - s3) + ["*2"] * s2 + ["*3"] * s3)


def vkorc1_1639_genotype(a_count: float) -> str:
    return "unknown" if math.isnan(a_count) else VKORC1_1639[int(a_count)]


def iwpc_unavailable(names: list[str]) -> str | None:
    """Why the IWPC dose cannot be computed from this model's features, or None when it can."""
    needed = _NUMERIC_INPUTS + [f for group in GENOTYPE_FEATURES.values() for f in group]
    lacking = [n for n in needed if n not in names]
    return f"the model does not take {', '.join(lacking)}, which the IWPC algorithm needs" if lacking else None


def iwpc_inputs(X: np.ndarray, names: list[str]) -> pd.DataFrame:
    """The IWPC algorithm's input columns (``kernel.formulas.iwpc.INPUTS``) from model-order feature rows."""
    col = {n: X[:, names.index(n)] for n in names}
    frame = pd.DataFrame({n: col[n] for n in _NUMERIC_INPUTS})
    frame["cyp2c9_genotype"] = [cyp2c9_genotype(a, b) for a, b in zip(col["cyp2c9_star2_count"],
                                                                       col["cyp2c9_star3_count"], strict=True)]
    frame["vkorc1_1639_genotype"] = [vkorc1_1639_genotype(a) for a in col["vkorc1_1639_a_count"]]
    return frame[INPUTS]


def inconsistent_inputs(X: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
    """Errors for rows whose values are each in range but impossible together (never echoing the values)."""
    errors = []
    if {"cyp2c9_star2_count", "cyp2c9_star3_count"} <= set(names):
        alleles = X[:, names.index("cyp2c9_star2_count")] + X[:, names.index("cyp2c9_star3_count")]
        errors += [{"loc": ["body", "patients", int(i), "features", "cyp2c9_star3_count"], "type": "inconsistent",
                    "msg": "CYP2C9 *2 and *3 allele counts add up to more than 2 (a person carries two alleles)"}
                   for i in np.flatnonzero(alleles > 2)]
    races = [n for n in RACE_FEATURES if n in names]
    if len(races) > 1:
        flagged = np.nansum(X[:, [names.index(n) for n in races]], axis=1)
        errors += [{"loc": ["body", "patients", int(i), "features", races[-1]], "type": "inconsistent",
                    "msg": f"at most one of {', '.join(races)} may be 1 (all 0 = White, the IWPC reference)"}
                   for i in np.flatnonzero(flagged > 1)]
    return errors


def dose_band(dose: float) -> DoseBand:
    """IWPC's dose groups: low <= 21, high >= 49 mg/week (``kernel.formulas.iwpc``)."""
    return "low" if dose <= LOW_DOSE_MG_WEEK else "high" if dose >= HIGH_DOSE_MG_WEEK else "intermediate"


def explanation_scale(calibrator: DoseIntervalCalibrator) -> str:
    if calibrator.transform == "sqrt":
        return ("square root of the weekly dose, sqrt(mg/week): the model's output before squaring "
                "(dose_mg_week = margin squared)")
    return "mg/week (the model's output is the dose itself)"


def dose_predictions(model: ServedModel, patient_ids: list[str], X: np.ndarray) -> list[PatientDose]:
    """The full answer for each validated row of X (model order, NaN = missing)."""
    calibrator = model.bundle.calibrator
    if not isinstance(calibrator, DoseIntervalCalibrator):  # the load-time RegressionTask.check makes this unreachable
        raise TypeError(f"{model.name} version {model.version} is a dose model without a dose_interval calibrator")
    names = model.bundle.feature_names
    explained = explain(model.bundle, X, model.explainer)
    low, high = calibrator.interval(explained.margin)
    unavailable = iwpc_unavailable(names)
    iwpc = None if unavailable else iwpc_dose(iwpc_inputs(X, names), PHARMACOGENETIC)
    inputs = None if unavailable else iwpc_inputs(X, names)
    source = f"pmed model {model.name} version {model.version} (@{model.alias})"
    method = (f"split-conformal on validation patients (|log ratio| residuals, so it widens with the dose); "
              f"nominal {calibrator.coverage:.0%}; coverage measured on held-out sites is in the model card")
    answers = []
    for i, patient_id in enumerate(patient_ids):
        row = X[i]
        assessment = assess(model.spec, row)
        iwpc_estimate, reason = _iwpc_estimate(iwpc, inputs, i, unavailable)
        missing = [n for n, v in zip(names, row, strict=True) if np.isnan(v)]
        if assessment.abstain_reason:
            answers.append(PatientDose(
                patient_id=patient_id, model_dose=DoseEstimate(source=source, dose_mg_week=None, dose_mg_day=None,
                                                               dose_band=None),
                iwpc_pharmacogenetic_dose=iwpc_estimate, iwpc_unavailable_reason=reason, missing_features=missing,
                explanation=None, flags=assessment.flags, abstained=True, abstain_reason=assessment.abstain_reason))
            continue
        dose = float(explained.risk[i])  # the calibrator's output: the margin squared back to mg/week
        answers.append(PatientDose(
            patient_id=patient_id,
            model_dose=DoseEstimate(source=source, dose_mg_week=dose, dose_mg_day=dose / 7, dose_band=dose_band(dose),
                                    interval=DoseInterval(low_mg_week=float(low[i]), high_mg_week=float(high[i]),
                                                          coverage=calibrator.coverage, method=method)),
            iwpc_pharmacogenetic_dose=iwpc_estimate, iwpc_unavailable_reason=reason, missing_features=missing,
            explanation=DoseExplanation(scale=explanation_scale(calibrator),
                                        base_value=float(explained.base_value[i]),
                                        margin=float(explained.margin[i]),
                                        contributions=_contributions(model.features, row,
                                                                     explained.contributions[i])),
            flags=assessment.flags))
    return answers


def _iwpc_estimate(iwpc: np.ndarray | None, inputs: pd.DataFrame | None, i: int,
                   unavailable: str | None) -> tuple[DoseEstimate | None, str | None]:
    if iwpc is None or inputs is None:
        return None, unavailable
    dose = float(iwpc[i])
    if math.isnan(dose):
        return None, "an input the IWPC algorithm needs is missing for this patient"
    genotypes = {name: str(inputs[name].iloc[i]) for name in GENOTYPE_FEATURES}
    return DoseEstimate(source=IWPC_SOURCE, dose_mg_week=dose, dose_mg_day=dose / 7, dose_band=dose_band(dose),
                        inputs=genotypes), None


def _contributions(features: list[ArtifactFeature], row: np.ndarray, phi: np.ndarray) -> list[DoseContribution]:
    out = [DoseContribution(feature=f.name, display_name=f.display_name,
                            value=None if math.isnan(v) else v, unit=f.unit, source=f.source, contribution=c,
                            direction="raises dose" if c > 0 else "lowers dose" if c < 0 else "no effect")
           for f, v, c in zip(features, row.tolist(), np.asarray(phi, dtype=np.float64).tolist(), strict=True)]
    return sorted(out, key=lambda c: abs(c.contribution), reverse=True)
