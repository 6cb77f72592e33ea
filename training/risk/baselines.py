"""Simple baselines fitted on the training patients and scored on the same test patients as the model.

The published ones (the Pooled Cohort Equations, ``kernel.formulas.pce``) are formulas both training and
serving use, so they live in the kernel. Pooled Cohort Equations (ACC/AHA 2013; Goff DC et al., Circulation
2014;129(suppl 2):S49-S73):
10-year hard ASCVD risk = 1 - S10 ** exp(sum(beta * x) - mean), with sex- and race-specific coefficients
(white / African-American). They are defined for ages 40-79; values outside the validated input ranges
are clipped to them here, as the ACC/AHA calculator does. The outcome differs slightly from our CAD
endpoint (ASCVD includes stroke), which is the usual caveat of this comparison.
"""

from __future__ import annotations

from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler


def logistic_baseline(seed: int) -> Pipeline:
    """Logistic regression on the same features: median-imputed, standardised, lightly penalised."""
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                         LogisticRegression(C=1.0, max_iter=2000, random_state=seed))
