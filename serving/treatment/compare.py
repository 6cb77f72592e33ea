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
        covariates = [f for f in spec.features if f.name not in spec.treatment.indicators]
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
    spec = model.spec
    assert isinstance(spec, TreatmentArtifact)
    effects = state.effects
    outcomes = effects.arm_outcomes(X).astype(np.float64)  # one scoring pass for every arm
    preds = [effects.predict_from(outcomes, arm) for arm in range(1, effects.n_arms)]
    contribs = [effects.effect_contributions(X, arm) for arm in range(1, effects.n_arms)]
    return [_comparison(patient_id, i, X[i], state.covariates, spec, preds, contribs)
            for i, patient_id in enumerate(patient_ids)]


def interval_method(effects: EffectEnsemble, spec: TreatmentArtifact | None = None) -> str:
    """How the 95% interval was made, and what it can be trusted for (the artifact's own words when it has them)."""
    if spec is not None and spec.treatment.interval_text:
        return spec.treatment.interval_text
    bootstrap = f"bootstrap ensemble of {len(effects.boosters_) - 1} boosters"
    if effects.interval_k == 1.0 and effects.interval_c == 0.0 and not effects.interval_ks:
        return f"{bootstrap}, uncalibrated: sampling variance only, so it may cover less than 95%"
    return (f"{bootstrap}, SD x {effects.interval_k:.2f} with a floor of {effects.interval_c:.4f}, calibrated to "
            "95% coverage (with 95% confidence) on a simulated trial with known effects")


def evidence_text(spec: TreatmentArtifact) -> str:
    """What the comparison rests on: a randomised trial, or observational data (confounding possible)."""
    if spec.treatment.randomised:
        return f"randomised trial ({'simulated' if spec.treatment.simulated else 'supplied by the user'})"
    return ("OBSERVATIONAL data (treatment was not randomised): the differences are adjusted for the recorded "
            "covariates only, so confounding by anything unrecorded is possible")


def outcome_words(spec: TreatmentArtifact) -> str:
    """The outcome as the answers name it: 'risk of death by day 180', '1-year risk', 'pru'."""
    info = spec.treatment
    if info.outcome == "time_to_event":
        return f"risk of {info.outcome_label or spec.target} by day {info.horizon_days:g}"
    if info.outcome == "binary":
        years = f"{spec.horizon_years:g}-year " if spec.horizon_years else ""
        return f"{years}risk of {info.outcome_label or spec.target}"
    return info.outcome_label or spec.target


def _comparison(patient_id: str, i: int, x: np.ndarray, covariates: list[ArtifactFeature], spec: TreatmentArtifact,
                preds: list[EffectPrediction], contribs: list[np.ndarray]) -> PatientComparison:
    info = spec.treatment
    reference, compared = info.reference, info.compared
    risk = info.outcome != "continuous"
    scale, unit = (100.0, " points") if risk else (1.0, "")
    words = outcome_words(spec)
    treatments = [TreatmentOutcome(treatment=reference, predicted_outcome=float(preds[0].outcome_reference[i]),
                                   difference=None, interval_95=None, reliable_difference=None, verdict="reference")]
    reliable_better: list[tuple[float, str]] = []
    for arm, pred in zip(compared, preds, strict=True):
        low, high, diff = float(pred.low[i]), float(pred.high[i]), float(pred.effect[i])
        reliable = not (low <= 0.0 <= high)
        verdict = (f"{arm} {'lowers' if diff < 0 else 'raises'} the predicted {words} by {abs(diff) * scale:.1f}"
                   f"{unit} against {reference} (95% interval {low * scale:+.1f} to {high * scale:+.1f})"
                   if reliable else f"no reliable difference from {reference}: the 95% interval crosses zero")
        treatments.append(TreatmentOutcome(treatment=arm, predicted_outcome=float(pred.outcome_treated[i]),
                                           difference=diff, interval_95=(low, high), reliable_difference=reliable,
                                           verdict=verdict))
        if reliable:
            reliable_better.append((diff if info.lower_is_better else -diff, arm))
    first = int(np.argmax([abs(float(p.effect[i])) for p in preds])) if len(preds) > 1 else 0
    names = [f.name for f in covariates] + info.indicators
    labels = [f.display_name for f in covariates] + [f"{arm} itself (its arm column)" for arm in compared]
    values = [None if np.isnan(v) else float(v) for v in x] + [None] * len(compared)
    row = contribs[first][i]
    drivers = sorted((Driver(feature=n, display_name=d, value=v, contribution=float(c))
                      for n, d, v, c in zip(names, labels, values, row[:-1], strict=True)),
                     key=lambda d: -abs(d.contribution))
    best = min(reliable_better) if reliable_better else None
    better = (best[1] if best[0] < 0 else reference) if best is not None else None
    trial = "a simulated" if info.simulated else "the"
    source = (f"model (S-learner fitted on {trial} randomised trial)" if info.randomised else
              "model (fitted on observational data: confounding possible)")
    model_rec = Recommendation(source=source, treatment=better,
                               text=f"prefer {better}" if better else "no reliable difference between the arms")
    if info.guideline == "cpic_cyp2c19" and len(compared) == 1:
        guideline = cpic_recommendation(x[names.index("cyp2c19_phenotype_code")] if "cyp2c19_phenotype_code" in names
                                        else np.nan, reference, compared[0])
    else:
        guideline = Recommendation(source="none declared", treatment=None,
                                   text="this model's spec declares no guideline to show beside it")
    return PatientComparison(
        patient_id=patient_id, reference=reference, outcome=spec.target, treatments=treatments,
        drivers_scale=_drivers_scale(info.outcome, compared[first], reference), drivers_total=float(row.sum()),
        drivers=drivers, model_recommendation=model_rec, guideline_recommendation=guideline)


def _drivers_scale(outcome: str, arm: str, reference: str) -> str:
    if outcome == "binary":
        return DRIVERS_SCALE
    if outcome == "time_to_event":
        return (f"log hazard ratio: S-learner margin under {arm} minus under {reference} (exact TreeSHAP; the risk "
                "difference is on the probability scale)")
    return f"outcome units: prediction under {arm} minus under {reference} (exact TreeSHAP)"


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
