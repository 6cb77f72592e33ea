"""A randomised two-arm trial in pmed's trial format, read under the same rules as every raw source.

``trial.csv``: ``patient_id``, ``arm`` (clopidogrel | ticagrelor), the covariates in ``COVARIATES``
(numbers within their ranges; binaries 0/1), ``nace_1y`` (0/1) and optionally ``pru`` (0-400, blank when
not measured). ``genotypes.vcf``: CYP2C19 genotypes, called with pmed's PGx caller, so the model sees the
caller's phenotype; a patient without a callable genotype gets no phenotype (NaN), never a guess.

The simulator (``features.sim.trial``) writes this format, and a real trial exported to it reads the same
way. A row that breaks a rule is quarantined with file, line, field and rule (its values are not copied);
the caller decides where the quarantine goes, and nothing is dropped without a record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.cohorts.trial import COVARIATE_FEATURES
from features.genetic.pgx import call_vcf
from features.parsing import blank, parse_numbers, read_raw_csv
from features.quarantine import Quarantine, SourceCheck, SourceCounts

TRUTH_FILE = "truth.csv"  # the simulator's known effects; never part of a real trial
ARMS = ("clopidogrel", "ticagrelor")  # arm 0 is the reference; effects are arm 1 minus arm 0
PHENOTYPE_CODE = {"Poor Metabolizer": 0, "Intermediate Metabolizer": 1, "Normal Metabolizer": 2,
                  "Rapid Metabolizer": 3, "Ultrarapid Metabolizer": 4}
COVARIATES: dict[str, tuple[float, float]] = {  # name: (min, max), from the one definition of each feature
    f.name: (f.min, f.max) for f in COVARIATE_FEATURES}
BINARY = frozenset(f.name for f in COVARIATE_FEATURES if f.kind == "binary")  # must be 0 or 1
FEATURES = (*COVARIATES, "cyp2c19_phenotype_code")
MIN_PER_ARM = 50


@dataclass(frozen=True)
class TrialData:
    """The valid rows (with phenotype and ``treated``), the rejected ones, and the row accounting."""

    frame: pd.DataFrame
    quarantine: pd.DataFrame
    counts: SourceCounts


def load_trial(folder: Path) -> TrialData:
    """Read and check ``folder/trial.csv`` and ``folder/genotypes.vcf``; raises only for a file-level fault."""
    path = folder / "trial.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no trial.csv (write one in pmed's trial format, docs/treatment.md, "
                                "or simulate one with `pmed simulate-trial`)")
    raw = read_raw_csv(path, ["patient_id", "arm", *COVARIATES, "nace_1y"])
    quarantine = Quarantine()
    check = SourceCheck(str(path), raw, quarantine)
    check.reject(blank(check.frame["patient_id"]), "patient_id", "missing patient_id")
    check.reject(check.frame["patient_id"].str.strip().duplicated(keep="first"), "patient_id",
                 "duplicate patient_id (the first row is kept)")
    check.reject(~check.frame["arm"].str.strip().isin(ARMS), "arm", f"arm must be one of {', '.join(ARMS)}")
    for name, (low, high) in COVARIATES.items():
        _check_number(check, name, low, high, binary=name in BINARY)
    _check_number(check, "nace_1y", 0, 1, binary=True)
    if "pru" in check.frame:
        pru = parse_numbers(check.frame["pru"])
        check.reject(~blank(check.frame["pru"]) & (pru.isna() | (pru < 0) | (pru > 400)), "pru",
                     "pru must be blank or a number in 0-400 (PRU units)")
    frame = check.finish()
    numeric = [*COVARIATES, "nace_1y", *(["pru"] if "pru" in frame else [])]
    frame = frame.assign(**{c: parse_numbers(frame[c]).astype("float64") for c in numeric},
                         patient_id=frame["patient_id"].str.strip(), arm=frame["arm"].str.strip())
    frame["nace_1y"] = frame["nace_1y"].astype(int)
    frame = _with_phenotype(frame, folder / "genotypes.vcf")
    frame["treated"] = (frame["arm"] == ARMS[1]).astype(int)
    per_arm = frame["arm"].value_counts()
    thin = [arm for arm in ARMS if per_arm.get(arm, 0) < MIN_PER_ARM]
    if thin:
        raise ValueError(f"{path}: arm {', '.join(thin)} has fewer than {MIN_PER_ARM} valid patients "
                         f"({dict(per_arm)} after {check.counts.rows_quarantined} quarantined rows)")
    return TrialData(frame.reset_index(drop=True), quarantine.frame(), check.counts)


def read_trial(folder: Path, quarantine_file: Path | None = None) -> pd.DataFrame:
    """The valid rows of a trial. Rejected rows are written to ``quarantine_file``; without one, any
    rejected row is an error naming the first few (file, line, field, rule), so none is lost unseen."""
    data = load_trial(folder)
    if quarantine_file is not None:
        quarantine_file.parent.mkdir(parents=True, exist_ok=True)
        data.quarantine.to_csv(quarantine_file, index=False)
    elif len(data.quarantine):
        first = "; ".join(f"{r.source_file} line {r.row}, {r.field}: {r.rule}"
                          for r in data.quarantine.head(3).itertuples())
        raise ValueError(f"{len(data.quarantine)} trial row(s) break a rule ({first}); pass a quarantine file "
                         "to train on the valid rows and keep the rejected ones on record")
    return data.frame


def _check_number(check: SourceCheck, name: str, low: float, high: float, binary: bool) -> None:
    values = parse_numbers(check.frame[name])
    check.reject(values.isna(), name, f"{name} is missing or not a number")
    values = parse_numbers(check.frame[name])
    if binary:
        check.reject(~values.isin((0, 1)), name, f"{name} must be 0 or 1")
    else:
        check.reject((values < low) | (values > high), name, f"{name} outside {low:g}-{high:g}")


def _with_phenotype(frame: pd.DataFrame, vcf: Path) -> pd.DataFrame:
    if not vcf.is_file():
        raise FileNotFoundError(f"{vcf}: no genotypes.vcf (CYP2C19 genotypes of the trial's patients; a patient "
                                "absent from it is treated as not genotyped)")
    calls = call_vcf(vcf, assume_trans=False)
    calls = calls[calls["gene"] == "CYP2C19"].set_index("sample")
    phenotype = frame["patient_id"].map(calls["phenotype"])
    return frame.assign(cyp2c19_phenotype=phenotype,
                        cyp2c19_phenotype_code=phenotype.map(PHENOTYPE_CODE).astype("float64"))


def read_truth(folder: Path) -> pd.DataFrame:
    """A simulated trial's true effects and risks per patient (``truth.csv``); a real trial has none."""
    return pd.read_csv(folder / TRUTH_FILE)


def has_truth(folder: Path) -> bool:
    """Whether a trial folder carries known true effects (only the simulator writes them)."""
    return (folder / TRUTH_FILE).is_file()
