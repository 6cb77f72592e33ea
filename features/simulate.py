"""A seeded synthetic cohort in real file formats, with a known true risk for every patient.

``simulate_cohort`` draws patients (demographics, lifestyle, genotypes -> polygenic scores, measured risk
factors, diagnoses, drugs), computes each patient's true 10-year CAD and 5-year T2D risk from the
documented ground-truth model (features/sim/truth.py, docs/simulator.md), draws the outcomes, and writes:

    patients.csv  labs.csv  diagnoses.csv  medications.csv  lifestyle.csv   (EHR and questionnaire extracts)
    genotypes.vcf (VCF 4.2, GRCh38)  pgs_cad.txt  pgs_t2d.txt (PGS Catalog scoring files, format 2.0)
    fhir/         (on request) the same EHR extracts as FHIR R4: NDJSON per resource type or a Bundle per patient
    truth.csv     (simulator only; a real cohort has none): patient_id, true_risk_cad_10y, true_risk_t2d_5y
                  (NaN where T2D is prevalent), and the true genotype scores true_cad_prs_sum,
                  true_t2d_prs_sum (effect-allele dosage x weight on the genotypes before no-calls)

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
from features.sim.records import DAY, diagnosis_rows, lab_rows, lifestyle_rows, medication_rows
from features.sim.traits import draw_clinical, draw_demographics, draw_lifestyle
from features.sim.truth import true_risks
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


@dataclass(frozen=True)
class SimulationSummary:
    """What was drawn, so a caller can check the cohort without reading the files back."""

    n_patients: int
    cad_10y_event_rate: float
    t2d_5y_event_rate: float
    injected_faults: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return (f"{self.n_patients} patients; CAD 10-y event rate {self.cad_10y_event_rate:.1%}; "
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
    cad_event: np.ndarray
    t2d_event: np.ndarray


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
    return SimulationSummary(n_patients, float(cohort.cad_event.mean()),
                             float(cohort.t2d_event[at_risk_t2d].mean()), injected)


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
    cad_event = rng.random(n) < truth["true_risk_cad_10y"].to_numpy()
    t2d_event = (traits["t2d"].to_numpy() == 0) & (rng.random(n) < truth["true_risk_t2d_5y"].fillna(0))
    ids = np.array([f"MRN{i:07d}" for i in rng.choice(9_000_000, n, replace=False) + 1_000_000])
    truth.insert(0, "patient_id", ids)
    truth["true_cad_prs_sum"], truth["true_t2d_prs_sum"] = sums["cad"], sums["t2d"]
    return _Cohort(ids, birth, index, traits, scores, variants, alt, truth, cad_event, t2d_event)


def _write_extracts(rng: np.random.Generator, c: _Cohort, out_dir: Path) -> dict[str, int]:
    """The EHR and questionnaire CSVs, with injected faults; returns the fault counts."""
    patients = pd.DataFrame({"patient_id": c.ids, "birth_date": c.birth,
                             "sex": np.where(c.traits["male"] == 1, "M", "F"), "index_date": c.index,
                             "ancestry": c.traits["ancestry"], "site": c.traits["site"]})
    tables = {
        "patients.csv": patients,
        "labs.csv": lab_rows(rng, c.ids, c.index, c.traits),
        "diagnoses.csv": diagnosis_rows(rng, c.ids, c.index, c.traits, c.cad_event, c.t2d_event),
        "medications.csv": medication_rows(rng, c.ids, c.index, c.traits),
        "lifestyle.csv": lifestyle_rows(rng, c.ids, c.index, c.traits),
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
