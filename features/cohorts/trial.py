"""The features of a randomised antiplatelet trial (pmed's trial format, ``features.trial``) that the EHR table lacks.

``age_years`` and ``current_smoker`` are the registry's own definitions and ``weight_kg`` the one shared with
the IWPC cohort, so a name means one thing in every model. The ranges here are the rules a trial row is
checked against (``features.trial.COVARIATES``) and the ranges a served request must respect.
"""

from __future__ import annotations

from features.cohorts.shared import WEIGHT_KG
from features.registry import REGISTRY, Feature, Source

_TRIAL = "recorded at randomisation in trial.csv"


def _binary(name: str, display: str, unit: str = "1 = yes, 0 = no", source: Source = "trial") -> Feature:
    return Feature(name=name, display_name=display, unit=unit, source=source, kind="binary", min=0, max=1,
                   concept=display, required=True, derivation=_TRIAL)


COVARIATE_FEATURES: tuple[Feature, ...] = (
    REGISTRY["age_years"],
    _binary("female", "Female sex", "1 = female, 0 = male", source="demographic"),
    WEIGHT_KG,
    _binary("diabetes", "Diabetes"),
    Feature(name="egfr_ml_min", display_name="eGFR", unit="mL/min/1.73m2", source="trial", kind="continuous",
            min=5, max=150, concept="eGFR", required=True, derivation=_TRIAL),
    _binary("prior_bleeding", "Prior major bleeding"),
    _binary("stemi", "STEMI presentation", "1 = STEMI, 0 = NSTE-ACS"),
    REGISTRY["current_smoker"],
)
PHENOTYPE = Feature(
    name="cyp2c19_phenotype_code", display_name="CYP2C19 phenotype",
    unit="0 = poor metabolizer, 1 = intermediate metabolizer, 2 = normal metabolizer, 3 = rapid metabolizer, "
         "4 = ultrarapid metabolizer (CPIC)", source="genetic", kind="count", min=0, max=4,
    concept="CYP2C19 phenotype", derivation="pmed's PGx caller on the trial's genotypes.vcf; empty when not callable")
TREATED = _binary("treated", "Ticagrelor (vs clopidogrel)", "1 = ticagrelor, 0 = clopidogrel")

FEATURES: tuple[Feature, ...] = (*COVARIATE_FEATURES, PHENOTYPE, TREATED)
