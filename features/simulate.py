"""A seeded synthetic cohort in real file formats, with a known true risk for every patient.

``simulate_cohort`` draws patients (demographics, lifestyle, genotypes -> polygenic scores, measured risk
factors, diagnoses, drugs), computes each patient's true 10-year CAD and 5-year T2D risk from the
documented ground-truth model (features/sim/truth.py, docs/simulator.md), draws the outcomes, and writes:

    patients.csv  labs.csv  diagnoses.csv  medications.csv  lifestyle.csv   (EHR and questionnaire extracts)
    genotypes.vcf (VCF 4.2, GRCh38)  pgs_cad.txt  pgs_t2d.txt (PGS Catalog scoring files, format 2.0)
    truth.csv     (true risks: simulator only; a real cohort has none)

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
from features.sim.genetic_files import write_scoring_file, write_vcf
from features.sim.records import DAY, diagnosis_rows, lab_rows, lifestyle_rows, medication_rows
from features.sim.traits import draw_clinical, draw_demographics, draw_lifestyle
from features.sim.truth import true_risks
from features.sim.variants import (
    PGX_VARIANTS,
    draw_alt_dosages,
    effect_dosage,
    exclusive_alleles,
    make_score,
)

MISSING_CALL_RATE = 0.02
DATE_FORMAT = "%Y-%m-%d"


@dataclass(frozen=True)
class SimulationSummary:
    n_patients: int
    cad_10y_event_rate: float
    t2d_5y_event_rate: float
    injected_faults: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return (f"{self.n_patients} patients; CAD 10-y event rate {self.cad_10y_event_rate:.1%}; "
                f"T2D 5-y event rate {self.t2d_5y_event_rate:.1%} (at risk); "
                f"{sum(self.injected_faults.values())} bad records injected for the quarantine")


def simulate_cohort(out_dir: Path, n_patients: int, seed: int) -> SimulationSummary:
    rng = np.random.default_rng(seed)
    traits = pd.concat([draw_demographics(rng, n_patients), draw_lifestyle(rng, n_patients)], axis=1)
    index = np.datetime64("2012-01-01") + rng.integers(0, 5 * 365, n_patients) * DAY
    birth = index - np.round(traits["age"].to_numpy() * 365.25).astype(int) * DAY
    traits["age"] = age_in_years(pd.Series(birth), pd.Series(index)).to_numpy()
    cad_score = make_score(rng, 40, 9_100_001, taken := set(), (0.02, 0.15))
    t2d_score = make_score(rng, 30, 9_200_001, taken, (0.02, 0.15))
    variants = [s.variant for s in cad_score + t2d_score] + list(PGX_VARIANTS)
    alt = draw_alt_dosages(rng, variants, traits["ancestry"].to_numpy())
    exclusive_alleles(alt, variants, [("rs4244285", "rs4986893"), ("rs1799853", "rs1057910")])
    traits["cad_prs_z"] = _standardised_score(cad_score, alt[: len(cad_score)])
    traits["t2d_prs_z"] = _standardised_score(t2d_score, alt[len(cad_score): len(cad_score) + len(t2d_score)])
    traits = pd.concat([traits, draw_clinical(rng, traits)], axis=1)
    truth = true_risks(traits)
    cad_event = rng.random(n_patients) < truth["true_risk_cad_10y"].to_numpy()
    t2d_event = (traits["t2d"].to_numpy() == 0) & (rng.random(n_patients) < truth["true_risk_t2d_5y"].fillna(0))
    ids = np.array([f"MRN{i:07d}" for i in rng.choice(9_000_000, n_patients, replace=False) + 1_000_000])

    out_dir.mkdir(parents=True, exist_ok=True)
    patients = pd.DataFrame({"patient_id": ids, "birth_date": birth,
                             "sex": np.where(traits["male"] == 1, "M", "F"), "index_date": index,
                             "ancestry": traits["ancestry"], "site": traits["site"]})
    tables = {
        "patients.csv": patients,
        "labs.csv": lab_rows(rng, ids, index, traits),
        "diagnoses.csv": diagnosis_rows(rng, ids, index, traits, cad_event, t2d_event),
        "medications.csv": medication_rows(rng, ids, index, traits),
        "lifestyle.csv": lifestyle_rows(rng, ids, index, traits),
    }
    tables = {name: _dates_as_text(frame) for name, frame in tables.items()}
    injected = faults.inject(rng, tables)
    for name, frame in tables.items():
        frame.to_csv(out_dir / name, index=False)
    alt_written = np.where(rng.random(alt.shape) < MISSING_CALL_RATE, -1, alt)
    write_vcf(out_dir / "genotypes.vcf", ids, variants, alt_written)
    write_scoring_file(out_dir / "pgs_cad.txt", cad_score, "PGS_SIM_CAD", "pmed_sim_CAD",
                       "Coronary artery disease (simulated)")
    write_scoring_file(out_dir / "pgs_t2d.txt", t2d_score, "PGS_SIM_T2D", "pmed_sim_T2D",
                       "Type 2 diabetes (simulated)")
    truth.insert(0, "patient_id", ids)
    truth.to_csv(out_dir / "truth.csv", index=False, float_format="%.10g")
    at_risk_t2d = traits["t2d"].to_numpy() == 0
    return SimulationSummary(n_patients, float(cad_event.mean()), float(t2d_event[at_risk_t2d].mean()),
                             injected)


def _dates_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates as YYYY-MM-DD text (empty when absent), as an extract would carry them."""
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].dt.strftime(DATE_FORMAT).fillna("")
    return frame


def _standardised_score(score: list, alt_dosage: np.ndarray) -> np.ndarray:
    """The weighted effect-allele sum (what the PRS feature measures), scaled to mean 0, SD 1."""
    weights = np.array([s.weight for s in score])
    raw = weights @ effect_dosage(score, alt_dosage)
    return (raw - raw.mean()) / raw.std()
