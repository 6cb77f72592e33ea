"""A seeded synthetic cohort in real file formats, with a known true risk for every patient.

``simulate_cohort`` draws patients (demographics, lifestyle, genotypes -> polygenic scores, measured risk
factors, diagnoses, drugs), computes each patient's true 10-year CAD and 5-year T2D risk from the
documented ground-truth model (features/sim/truth.py, docs/simulator.md), draws the outcomes, and writes:

    patients.csv  labs.csv  diagnoses.csv  medications.csv  lifestyle.csv   (EHR and questionnaire extracts)
    follow_up.csv (patient_id, last_contact_date: the end of each patient's follow-up; nothing after it is
                  recorded, so a share of patients is censored before the 10-year horizon)
    genotypes.vcf (VCF 4.2, GRCh38)  pgs_cad.txt  pgs_t2d.txt (PGS Catalog scoring files, format 2.0)
    fhir/         (on request) the same EHR extracts as FHIR R4: NDJSON per resource type or a Bundle per patient
    truth.csv     (simulator only; a real cohort has none): patient_id, true_risk_cad_10y, true_risk_t2d_5y
                  (NaN where T2D is prevalent), the true genotype scores true_cad_prs_sum,
                  true_t2d_prs_sum (effect-allele dosage x weight on the genotypes before no-calls), and the
                  uncensored event days true_cad_event_days, true_t2d_event_days (empty: never)

Outcomes are times to event (features/sim/truth.py: proportional hazards, Weibull baseline, the logistic risk
exactly at the horizon), censored independently by loss to follow-up (LOSS_PER_YEAR) and by the extract date
(EXTRACT_DATE): index dates 2012-2016 give 8.5-13.5 years of administrative follow-up.

A small share of deliberately bad records (unparseable values, unknown units, impossible dates,
out-of-range values, unknown patients, invalid answers) exercises the quarantine. Same seed, same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.ehr.patients import age_in_years
from features.sim import faults
from features.sim.fhir_files import write_fhir
from features.sim.genetic_files import write_scoring_file, write_vcf
from features.sim.records import (
    DAY,
    diagnosis_rows,
    drop_after_last_contact,
    follow_up_rows,
    lab_rows,
    lifestyle_rows,
    medication_rows,
)
from features.sim.traits import draw_clinical, draw_demographics, draw_lifestyle
from features.sim.truth import (
    CAD_HORIZON_DAYS,
    CAD_WEIBULL_SHAPE,
    DAYS_PER_YEAR,
    T2D_HORIZON_DAYS,
    T2D_WEIBULL_SHAPE,
    event_days,
    true_risks,
)
from features.sim.variants import (
    PGX_VARIANTS,
    ScoreVariant,
    Variant,
    draw_alt_dosages,
    effect_dosage,
    exclusive_alleles,
    make_score,
)

MISSING_CALL_RATE = 0.02
DATE_FORMAT = "%Y-%m-%d"
EXTRACT_DATE = np.datetime64("2025-06-30")  # administrative end of follow-up: the day the data were extracted
LOSS_PER_YEAR = 0.02  # loss to follow-up (moved away, changed provider), exponential, independent of risk


@dataclass(frozen=True)
class SimulationSummary:
    """What was drawn, so a caller can check the cohort without reading the files back."""

    n_patients: int
    cad_10y_event_rate: float
    t2d_5y_event_rate: float
    injected_faults: dict[str, int] = field(default_factory=dict)
    censored_before_10y: float = 0.0  # share of patients whose follow-up ends before 10 years with no CAD recorded

    def __str__(self) -> str:
        return (f"{self.n_patients} patients; CAD 10-y event rate {self.cad_10y_event_rate:.1%} (true, before "
                f"censoring; {self.censored_before_10y:.1%} censored before 10 years); "
                f"T2D 5-y event rate {self.t2d_5y_event_rate:.1%} (at risk); "
                f"{sum(self.injected_faults.values())} bad records injected for the quarantine")


@dataclass
class _Cohort:
    """Everything drawn for one cohort, before it is written out as raw files."""

    ids: np.ndarray
    birth: np.ndarray
    index: np.ndarray
    traits: pd.DataFrame
    scores: dict[str, list[ScoreVariant]]
    variants: list[Variant]
    alt: np.ndarray  # true ALT dosages (variants x patients), before no-calls
    truth: pd.DataFrame
    cad_days: np.ndarray  # true (uncensored) event day after index, fractional; inf = never
    t2d_days: np.ndarray
    follow_up_days: np.ndarray  # whole days from index to the last contact (>= 1)

    @property
    def last_contact(self) -> np.ndarray:
        return self.index + self.follow_up_days * DAY

    def recorded_day(self, days: np.ndarray) -> np.ndarray:
        """The diagnosis day as the EHR records it (whole days, >= 1), NaN when after the last contact."""
        day = np.ceil(days)
        return np.where(day <= self.follow_up_days, day, np.nan)


def simulate_cohort(out_dir: Path, n_patients: int, seed: int, fhir: str | None = None) -> SimulationSummary:
    """Write the raw files of a seeded cohort into ``out_dir`` (same seed, same bytes).

    ``fhir`` ("ndjson" or "bundle") also writes the EHR extracts as FHIR R4 into ``out_dir / "fhir"``.
    """
    rng = np.random.default_rng(seed)
    cohort = _draw_cohort(rng, n_patients)
    out_dir.mkdir(parents=True, exist_ok=True)
    injected = _write_extracts(rng, cohort, out_dir)
    if fhir is not None:
        write_fhir(out_dir, out_dir / "fhir", fhir)
    _write_genetics(rng, cohort, out_dir)
    cohort.truth.to_csv(out_dir / "truth.csv", index=False, float_format="%.10g")
    at_risk_t2d = cohort.traits["t2d"].to_numpy() == 0
    censored = (cohort.follow_up_days < CAD_HORIZON_DAYS) & np.isnan(cohort.recorded_day(cohort.cad_days))
    return SimulationSummary(n_patients, float(np.mean(cohort.cad_days <= CAD_HORIZON_DAYS)),
                             float(np.mean(cohort.t2d_days[at_risk_t2d] <= T2D_HORIZON_DAYS)), injected,
                             float(censored.mean()))


def _draw_cohort(rng: np.random.Generator, n: int) -> _Cohort:
    """Draw traits, genotypes, true risks and outcomes (the order of draws fixes the bytes per seed)."""
    traits = pd.concat([draw_demographics(rng, n), draw_lifestyle(rng, n)], axis=1)
    index = np.datetime64("2012-01-01") + rng.integers(0, 5 * 365, n) * DAY
    birth = index - np.round(traits["age"].to_numpy() * 365.25).astype(int) * DAY
    traits["age"] = age_in_years(pd.Series(birth), pd.Series(index)).to_numpy()
    taken: set[tuple[str, int]] = set()
    scores = {"cad": make_score(rng, 40, 9_100_001, taken, (0.02, 0.15)),
              "t2d": make_score(rng, 30, 9_200_001, taken, (0.02, 0.15))}
    variants = [s.variant for s in scores["cad"] + scores["t2d"]] + list(PGX_VARIANTS)
    alt = draw_alt_dosages(rng, variants, traits["ancestry"].to_numpy())
    exclusive_alleles(alt, variants, [("rs4244285", "rs4986893"), ("rs1799853", "rs1057910")])
    sums = {"cad": _score_sum(scores["cad"], alt[: len(scores["cad"])]),
            "t2d": _score_sum(scores["t2d"], alt[len(scores["cad"]): len(scores["cad"]) + len(scores["t2d"])])}
    for name, raw in sums.items():
        traits[f"{name}_prs_z"] = (raw - raw.mean()) / raw.std()
    traits = pd.concat([traits, draw_clinical(rng, traits)], axis=1)
    truth = true_risks(traits)
    cad_days = event_days(rng.random(n), truth["true_risk_cad_10y"].to_numpy(), CAD_HORIZON_DAYS, CAD_WEIBULL_SHAPE)
    t2d_days = event_days(rng.random(n), truth["true_risk_t2d_5y"].fillna(0).to_numpy(), T2D_HORIZON_DAYS,
                          T2D_WEIBULL_SHAPE)  # prevalent T2D: r = 0, never an incident diagnosis
    ids = np.array([f"MRN{i:07d}" for i in rng.choice(9_000_000, n, replace=False) + 1_000_000])
    truth.insert(0, "patient_id", ids)
    truth["true_cad_prs_sum"], truth["true_t2d_prs_sum"] = sums["cad"], sums["t2d"]
    truth["true_cad_event_days"] = np.where(np.isfinite(cad_days), cad_days, np.nan)
    truth["true_t2d_event_days"] = np.where(np.isfinite(t2d_days), t2d_days, np.nan)
    lost = rng.exponential(DAYS_PER_YEAR / LOSS_PER_YEAR, n)
    administrative = (EXTRACT_DATE - index) / DAY
    follow_up = np.maximum(np.floor(np.minimum(lost, administrative)), 1).astype(np.int64)
    return _Cohort(ids, birth, index, traits, scores, variants, alt, truth, cad_days, t2d_days, follow_up)


def _write_extracts(rng: np.random.Generator, c: _Cohort, out_dir: Path) -> dict[str, int]:
    """The EHR and questionnaire CSVs, with injected faults; returns the fault counts."""
    patients = pd.DataFrame({"patient_id": c.ids, "birth_date": c.birth,
                             "sex": np.where(c.traits["male"] == 1, "M", "F"), "index_date": c.index,
                             "ancestry": c.traits["ancestry"], "site": c.traits["site"]})
    last = c.last_contact
    diagnoses = diagnosis_rows(rng, c.ids, c.index, c.traits, c.recorded_day(c.cad_days), c.recorded_day(c.t2d_days))
    tables = {
        "patients.csv": patients,
        "labs.csv": drop_after_last_contact(lab_rows(rng, c.ids, c.index, c.traits), "effective_date", c.ids, last),
        "diagnoses.csv": drop_after_last_contact(diagnoses, "onset_date", c.ids, last),
        "medications.csv": medication_rows(rng, c.ids, c.index, c.traits),
        "lifestyle.csv": lifestyle_rows(rng, c.ids, c.index, c.traits),
        "follow_up.csv": follow_up_rows(c.ids, last),
    }
    tables = {name: _dates_as_text(frame) for name, frame in tables.items()}
    injected = faults.inject(rng, tables)
    for name, frame in tables.items():
        frame.to_csv(out_dir / name, index=False)
    return injected


def _write_genetics(rng: np.random.Generator, c: _Cohort, out_dir: Path) -> None:
    """The VCF (with ~2% no-calls) and the two PGS Catalog scoring files."""
    alt_written = np.where(rng.random(c.alt.shape) < MISSING_CALL_RATE, -1, c.alt)
    write_vcf(out_dir / "genotypes.vcf", c.ids, c.variants, alt_written)
    write_scoring_file(out_dir / "pgs_cad.txt", c.scores["cad"], "PGS_SIM_CAD", "pmed_sim_CAD",
                       "Coronary artery disease (simulated)")
    write_scoring_file(out_dir / "pgs_t2d.txt", c.scores["t2d"], "PGS_SIM_T2D", "pmed_sim_T2D",
                       "Type 2 diabetes (simulated)")


def _dates_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates as YYYY-MM-DD text (empty when absent), as an extract would carry them."""
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].dt.strftime(DATE_FORMAT).fillna("")
    return frame


def _score_sum(score: list[ScoreVariant], alt_dosage: np.ndarray) -> np.ndarray:
    """The weighted effect-allele sum of the true genotypes: what the PRS feature measures from the VCF."""
    weights = np.array([s.weight for s in score])
    return weights @ effect_dosage(score, alt_dosage)
