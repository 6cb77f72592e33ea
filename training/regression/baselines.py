"""The warfarin dose model's baselines: the published IWPC formulas and a fixed dose, and the IWPC form refitted.

The formulas themselves live in ``kernel.formulas.iwpc`` (serving computes them beside the model's dose);
what only training does, scoring every baseline and refitting the IWPC form on the training sites, is here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kernel.formulas.iwpc import CLINICAL, FIXED_DOSE_MG_WEEK, PHARMACOGENETIC, design_term, iwpc_dose


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
    columns = [design_term(patients, name) for name in names]
    design = np.column_stack(columns)
    coef, *_ = np.linalg.lstsq(design, np.sqrt(dose), rcond=None)
    return dict(zip(names, map(float, coef), strict=True))
