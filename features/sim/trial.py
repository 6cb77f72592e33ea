"""A seeded randomized antiplatelet trial (clopidogrel vs ticagrelor after ACS/PCI) with known effects.

Every patient's true 1-year risk under BOTH arms is known, so a treatment-response model can be scored
against the truth (PEHE, interval coverage, policy regret). The formulas are in docs/treatment.md;
change one, change the other.

Net adverse clinical event (NACE) within 1 year = MACE (CV death, MI, stroke, stent thrombosis) or
major bleeding (BARC 3-5). Bleeding is part of the outcome on purpose: with MACE alone ticagrelor could
never harm anyone, and its bleeding harm is what makes switching wrong for some patients.

    ischemic log-odds = -2.75 + 0.03 (age - 63) + 0.45 diabetes + 0.012 max(90 - eGFR, 0) + 0.3 STEMI
                        + 0.25 smoker + 0.3 prior bleeding
                        + clopidogrel: LOF(phenotype) + 0.15 diabetes     [clopidogrel needs CYP2C19]
                        + ticagrelor: -0.15                                [PLATO, HR about 0.85]
        LOF = +0.65 poor, +0.35 intermediate, 0 normal, -0.05 rapid or ultrarapid metabolizer
    bleeding log-odds = -4.1 + 0.04 (age - 63) + 1.1 prior bleeding + 0.015 max(90 - eGFR, 0)
                        + 0.35 female - 0.01 (weight - 80)
                        + ticagrelor: 0.3 + 0.6 prior bleeding + 0.04 max(age - 70, 0)
                                      + 0.015 max(60 - eGFR, 0)
    risk(arm) = 1 - (1 - ischemic(arm)) (1 - bleeding(arm));  effect = risk(ticagrelor) - risk(clopidogrel)

Continuous variant: on-treatment platelet reactivity (VerifyNow PRU), normal noise SD 40:
    clopidogrel: 185 + 35 IM + 75 PM - 15 RM/UM + 18 diabetes + 0.4 (age - 63) + 0.5 max(60 - eGFR, 0)
    ticagrelor:   45 + 5 diabetes + 0.2 (age - 63)

Files: trial.csv (covariates, arm, outcomes), genotypes.vcf (CYP2C19, phased, GRCh38; ~1% no-calls),
truth.csv (simulator only), in the trial format that ``features.trial`` reads for real trials too.
Phenotypes for modelling come from the PGx caller reading the VCF.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.genetic.pgx.tables import genes
from features.sim.variants import ANCESTRIES, ANCESTRY_SHARES
from features.trial import ARMS, FEATURES, PHENOTYPE_CODE, TRUTH_FILE, read_trial, read_truth  # noqa: F401 (re-exported)

HAPLOTYPE_FREQ = {  # CYP2C19 star-allele frequency by ancestry (rounded from CPIC frequency tables); rest *1
    "EUR": {"*2": .15, "*3": .005, "*17": .21}, "AFR": {"*2": .17, "*3": .005, "*17": .20},
    "EAS": {"*2": .29, "*3": .07, "*17": .02}, "SAS": {"*2": .34, "*3": .01, "*17": .15},
    "AMR": {"*2": .11, "*3": .005, "*17": .12},
}
LOF_LOG_ODDS = {0: 0.65, 1: 0.35, 2: 0.0, 3: -0.05, 4: -0.05}
NO_CALL_RATE = 0.01


@dataclass(frozen=True)
class TrialSummary:
    n_patients: int
    event_rate: dict[str, float]
    share_harmed: float  # true effect > 0: ticagrelor raises this patient's risk
    mean_effect: float

    def __str__(self) -> str:
        rates = ", ".join(f"{arm} {rate:.1%}" for arm, rate in self.event_rate.items())
        return (f"{self.n_patients} patients; 1-year NACE rate {rates}; mean true effect {self.mean_effect:+.4f}; "
                f"{self.share_harmed:.1%} harmed by ticagrelor")


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def draw_patients(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Covariates at randomisation and the true CYP2C19 diplotype (two star alleles)."""
    age = np.clip(rng.normal(63, 11, n), 30, 95).round(0)
    female = (rng.random(n) < 0.26).astype(int)
    ancestry = rng.choice(ANCESTRIES, n, p=ANCESTRY_SHARES)
    haps = np.stack([_draw_alleles(rng, ancestry) for _ in range(2)], axis=1)
    gene = genes()["CYP2C19"]
    phenotype = np.array([gene.phenotype(a, b) for a, b in haps])
    return pd.DataFrame({
        "age_years": age, "female": female, "ancestry": ancestry,
        "weight_kg": np.clip(rng.normal(84 - 12 * female, 15), 40, 180).round(0),
        "diabetes": (rng.random(n) < 0.28).astype(int),
        "egfr_ml_min": np.clip(rng.normal(95 - 0.8 * (age - 50), 18), 10, 140).round(0),
        "prior_bleeding": (rng.random(n) < sigmoid(-3.2 + 0.04 * (age - 63))).astype(int),
        "stemi": (rng.random(n) < 0.35).astype(int),
        "current_smoker": (rng.random(n) < 0.3).astype(int),
        "allele_1": haps[:, 0], "allele_2": haps[:, 1], "true_phenotype": phenotype,
    })


def _draw_alleles(rng: np.random.Generator, ancestry: np.ndarray) -> np.ndarray:
    names = ["*1", "*2", "*3", "*17"]
    probs = np.array([[1 - sum(HAPLOTYPE_FREQ[a].values()), *HAPLOTYPE_FREQ[a].values()] for a in ancestry])
    cumulative = probs.cumsum(axis=1)
    return np.array(names)[(rng.random(len(ancestry))[:, None] > cumulative).sum(axis=1)]


def true_outcomes(p: pd.DataFrame, phenotype_code: np.ndarray) -> pd.DataFrame:
    """True 1-year NACE risk and expected PRU under each arm (see the module docstring)."""
    age, egfr, dm, bleed = p["age_years"], p["egfr_ml_min"], p["diabetes"], p["prior_bleeding"]
    lof = np.vectorize(LOF_LOG_ODDS.get)(phenotype_code)
    ischemic = (-2.75 + 0.03 * (age - 63) + 0.45 * dm + 0.012 * np.maximum(90 - egfr, 0) + 0.3 * p["stemi"]
                + 0.25 * p["current_smoker"] + 0.3 * bleed)
    bleeding = (-4.1 + 0.04 * (age - 63) + 1.1 * bleed + 0.015 * np.maximum(90 - egfr, 0)
                + 0.35 * p["female"] - 0.01 * (p["weight_kg"] - 80))
    risk = {}
    for arm, isch_shift, bleed_shift in (
        ("clopidogrel", lof + 0.15 * dm, 0.0),
        ("ticagrelor", -0.15, 0.3 + 0.6 * bleed + 0.04 * np.maximum(age - 70, 0) + 0.015 * np.maximum(60 - egfr, 0)),
    ):
        risk[arm] = 1 - (1 - sigmoid(ischemic + isch_shift)) * (1 - sigmoid(bleeding + bleed_shift))
    pru_clop = (185 + 35 * (phenotype_code == 1) + 75 * (phenotype_code == 0) - 15 * (phenotype_code >= 3)
                + 18 * dm + 0.4 * (age - 63) + 0.5 * np.maximum(60 - egfr, 0))
    pru_tica = 45 + 5 * dm + 0.2 * (age - 63)
    return pd.DataFrame({
        "true_risk_clopidogrel": risk["clopidogrel"], "true_risk_ticagrelor": risk["ticagrelor"],
        "true_effect": risk["ticagrelor"] - risk["clopidogrel"],
        "true_pru_clopidogrel": pru_clop, "true_pru_ticagrelor": pru_tica, "true_effect_pru": pru_tica - pru_clop,
    })


def simulate_trial(out_dir: Path, n_patients: int, seed: int) -> TrialSummary:
    """Write trial.csv, genotypes.vcf and truth.csv for a 1:1 randomised trial (same seed, same bytes)."""
    rng = np.random.default_rng(seed)
    patients = draw_patients(rng, n_patients)
    code = patients["true_phenotype"].map(PHENOTYPE_CODE).to_numpy()
    truth = true_outcomes(patients, code)
    arm = (rng.random(n_patients) < 0.5).astype(int)
    risk = np.where(arm == 1, truth["true_risk_ticagrelor"], truth["true_risk_clopidogrel"])
    pru = np.where(arm == 1, truth["true_pru_ticagrelor"], truth["true_pru_clopidogrel"])
    ids = np.array([f"TRIAL{i:06d}" for i in range(1, n_patients + 1)])
    trial = patients[[c for c in FEATURES if c != "cyp2c19_phenotype_code"]].assign(
        patient_id=ids, arm=np.array(ARMS)[arm], nace_1y=(rng.random(n_patients) < risk).astype(int),
        pru=np.clip(pru + rng.normal(0, 40, n_patients), 0, 400).round(0))
    out_dir.mkdir(parents=True, exist_ok=True)
    trial[["patient_id", "arm", *trial.columns.drop(["patient_id", "arm"])]].to_csv(out_dir / "trial.csv", index=False)
    _write_cyp2c19_vcf(rng, out_dir / "genotypes.vcf", ids, patients[["allele_1", "allele_2"]].to_numpy())
    truth.insert(0, "patient_id", ids)
    truth.insert(1, "true_phenotype", patients["true_phenotype"])
    truth.to_csv(out_dir / TRUTH_FILE, index=False, float_format="%.10g")
    return TrialSummary(n_patients, {a: float(trial.loc[arm == i, "nace_1y"].mean()) for i, a in enumerate(ARMS)},
                        float((truth["true_effect"] > 0).mean()), float(truth["true_effect"].mean()))


def _write_cyp2c19_vcf(rng: np.random.Generator, path: Path, ids: np.ndarray, haps: np.ndarray) -> None:
    """Phased GTs at every CYP2C19 position of the CPIC table, built from each allele's defining bases."""
    gene = genes()["CYP2C19"]
    lines = ["##fileformat=VCFv4.2", "##source=pmed-trial-simulator", "##reference=GRCh38", "##contig=<ID=chr10>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(ids)]
    for pos in sorted(gene.positions, key=lambda q: q.pos):
        alt_of = {name: int(a.bases[pos.rsid] == pos.alt) for name, a in gene.alleles.items()}
        first = np.vectorize(alt_of.get)(haps[:, 0]).astype(str)
        second = np.vectorize(alt_of.get)(haps[:, 1]).astype(str)
        gt = np.char.add(np.char.add(first, "|"), second)
        gt[rng.random(len(ids)) < NO_CALL_RATE / len(gene.positions)] = ".|."
        lines.append(f"{pos.chrom}\t{pos.pos}\t{pos.rsid}\t{pos.ref}\t{pos.alt}\t.\tPASS\t.\tGT\t" + "\t".join(gt))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

