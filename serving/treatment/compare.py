"""A treatment-response model's answer for each patient, shared by the API's compare-treatments and the
clinician page: both arms' predicted outcome, the difference with its 95% interval ("no reliable
difference" when it crosses zero), its exact drivers, and the CPIC recommendation beside the model's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from kernel.artifact import ArtifactFeature
from kernel.artifacts.treatment import TreatmentArtifact
from kernel.bundle import Bundle
from kernel.effect_model import EffectEnsemble, EffectPrediction
from kernel.formulas.cpic import SOURCE as CPIC_SOURCE
from kernel.formulas.cpic import clopidogrel_advice
from serving.risk.answer import RiskState
from serving.served import ServedModel
from serving.treatment.schemas import Driver, PatientComparison, Recommendation, TreatmentOutcome
from serving.validation import features_model

DRIVERS_SCALE = ("log-odds ratio: S-learner margin under the candidate minus under the reference "
                 "(exact TreeSHAP; the risk difference is on the probability scale)")


@dataclass(frozen=True)
class TreatmentState(RiskState):
    """A served treatment-response version's own pieces, built once at load: its risk state (predict
    answers the outcome risk under one arm), its bootstrap ensemble and the covariates' request model."""

    effects: EffectEnsemble
    covariates: list[ArtifactFeature]  # every feature but the treatment column: what a caller sends
    covariate_model: type[BaseModel]

    @classmethod
    def of_bundle(cls, name: str, bundle: Bundle) -> TreatmentState:
        spec = bundle.spec
        assert isinstance(spec, TreatmentArtifact)  # the task is chosen by the artifact's own class
        covariates = [f for f in spec.features if f.name != spec.treatment.feature]
        risk = RiskState.of(spec)
        return cls(plan=risk.plan, low=risk.low, high=risk.high, horizon_years=risk.horizon_years,
                   effects=EffectEnsemble.from_files(bundle.extras), covariates=covariates,
                   covariate_model=features_model(f"{name}_covariates", covariates))


def treatment_state(model: ServedModel) -> TreatmentState:
    state = model.state
    if not isinstance(state, TreatmentState):
        raise TypeError(f"{model.name} version {model.version} carries no treatment state (task {model.spec.task})")
    return state


def treatment_comparisons(model: ServedModel, patient_ids: list[str], X: np.ndarray) -> list[PatientComparison]:
    """One comparison per validated covariate row of X (covariate order, NaN = missing)."""
    state = treatment_state(model)
    pred, contribs = state.effects.predict(X), state.effects.effect_contributions(X)
    spec = model.spec
    assert isinstance(spec, TreatmentArtifact)
    return [_comparison(patient_id, i, X[i], state.covariates, spec, pred, contribs)
            for i, patient_id in enumerate(patient_ids)]


def interval_method(effects: EffectEnsemble) -> str:
    bootstrap = f"bootstrap ensemble of {len(effects.boosters_) - 1} boosters"
    if effects.interval_k == 1.0 and effects.interval_c == 0.0:
        return f"{bootstrap}, uncalibrated: sampling variance only, so it may cover less than 95%"
    return (f"{bootstrap}, SD x {effects.interval_k:.2f} with a floor of {effects.interval_c:.4f}, calibrated to "
            "95% coverage (with 95% confidence) on a simulated trial with known effects")


def _comparison(patient_id: str, i: int, x: np.ndarray, covariates: list[ArtifactFeature], spec: TreatmentArtifact,
                pred: EffectPrediction, contribs: np.ndarray) -> PatientComparison:
    reference, candidate = spec.treatment.arms
    low, high, diff = float(pred.low[i]), float(pred.high[i]), float(pred.effect[i])
    reliable = not (low <= 0.0 <= high)
    verdict = (f"{candidate} {'lowers' if diff < 0 else 'raises'} the predicted 1-year risk by "
               f"{abs(diff) * 100:.1f} points (95% interval {low * 100:+.1f} to {high * 100:+.1f})"
               if reliable else "no reliable difference: the 95% interval crosses zero")
    names = [f.name for f in covariates] + [spec.treatment.feature]
    labels = [f.display_name for f in covariates] + [f"{candidate} itself (the treatment column)"]
    values = [None if np.isnan(v) else float(v) for v in x] + [None]
    drivers = sorted((Driver(feature=n, display_name=d, value=v, contribution=float(c))
                      for n, d, v, c in zip(names, labels, values, contribs[i, :-1], strict=True)),
                     key=lambda d: -abs(d.contribution))
    better = candidate if diff < 0 else reference
    trial = "a simulated" if spec.treatment.simulated else "the"
    model_rec = Recommendation(source=f"model (S-learner fitted on {trial} randomised trial)",
                               treatment=better if reliable else None,
                               text=f"prefer {better}" if reliable else "no reliable difference between the arms")
    return PatientComparison(
        patient_id=patient_id, reference=reference, outcome=spec.target,
        treatments=[TreatmentOutcome(treatment=reference, predicted_outcome=float(pred.outcome_reference[i]),
                                     difference=None, interval_95=None, reliable_difference=None,
                                     verdict="reference"),
                    TreatmentOutcome(treatment=candidate, predicted_outcome=float(pred.outcome_treated[i]),
                                     difference=diff, interval_95=(low, high), reliable_difference=reliable,
                                     verdict=verdict)],
        drivers_scale=DRIVERS_SCALE, drivers_total=float(contribs[i].sum()), drivers=drivers,
        model_recommendation=model_rec, guideline_recommendation=cpic_recommendation(x[names.index(
            "cyp2c19_phenotype_code")] if "cyp2c19_phenotype_code" in names else np.nan, reference, candidate))


def cpic_recommendation(phenotype_code: float, reference: str, candidate: str) -> Recommendation:
    """CPIC's advice (``kernel.formulas.cpic``) in the answer's words, naming the spec's arms."""
    advice = clopidogrel_advice(phenotype_code)
    if advice.alternative is None:
        return Recommendation(source=CPIC_SOURCE, treatment=None,
                              text="no CYP2C19 result: no genotype-guided recommendation")
    if advice.alternative:
        return Recommendation(source=CPIC_SOURCE, treatment=candidate,
                              text=f"{advice.phenotype}: avoid standard-dose {reference} if possible; use {candidate} "
                                   "or prasugrel at standard dose (strong)")
    return Recommendation(source=CPIC_SOURCE, treatment=reference,
                          text=f"{advice.phenotype}: {reference} 75 mg/day at standard dose (strong)")
