"""CPIC rules that training (as a baseline policy) and serving (beside the model's answer) both apply.

CYP2C19 and clopidogrel, CPIC 2022 update (Lee CR et al., Clin Pharmacol Ther 2022;112:959-967), for
ACS/PCI: a poor or intermediate metabolizer should avoid standard-dose clopidogrel if possible and take an
alternative P2Y12 inhibitor (prasugrel or ticagrelor) at standard dose (strong); normal, rapid and
ultrarapid metabolizers take clopidogrel 75 mg/day (strong).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

SOURCE = "CPIC guideline (CYP2C19 and clopidogrel, 2022 update; ACS/PCI)"
CYP2C19_PHENOTYPES = ("Poor Metabolizer", "Intermediate Metabolizer", "Normal Metabolizer", "Rapid Metabolizer",
                      "Ultrarapid Metabolizer")  # index = the phenotype code features carry (0-4)
CPIC_ALTERNATIVE = ("Poor Metabolizer", "Intermediate Metabolizer")


@dataclass(frozen=True)
class ClopidogrelAdvice:
    """What CPIC says for one patient: take the alternative (True), clopidogrel (False), or no call (None)."""

    alternative: bool | None
    phenotype: str | None


def cpic_rule(phenotype: pd.Series | np.ndarray) -> np.ndarray:
    """Per patient (phenotype names): alternative (1) for a poor or intermediate metabolizer, else clopidogrel (0).

    An uncallable phenotype gets clopidogrel, the standard of care when no genotype is available.
    """
    return np.isin(np.asarray(phenotype, dtype=object), CPIC_ALTERNATIVE).astype(int)


def clopidogrel_advice(phenotype_code: float) -> ClopidogrelAdvice:
    """CPIC's advice from a CYP2C19 phenotype code (0 = poor ... 4 = ultrarapid; NaN = no result)."""
    if math.isnan(phenotype_code):
        return ClopidogrelAdvice(alternative=None, phenotype=None)
    phenotype = CYP2C19_PHENOTYPES[int(phenotype_code)]
    return ClopidogrelAdvice(alternative=phenotype in CPIC_ALTERNATIVE, phenotype=phenotype)
