"""Deliberately bad records, so every simulated cohort exercises the quarantine.

Bad lab and diagnosis rows are added (real rows stay intact, so the truth model's inputs survive);
a few questionnaire answers are corrupted in place (those patients lose their lifestyle features).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

UNKNOWN_PATIENT = "MRN0000000"  # simulated ids start at MRN1000000


def inject(rng: np.random.Generator, tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Mutate ``tables`` in place; return how many faults of each kind were injected."""
    labs = tables["labs.csv"].astype({"value": object})
    k = max(1, len(labs) // 1500)
    bad = labs.sample(n=5 * k, random_state=rng.integers(2**31)).reset_index(drop=True)
    bad.loc[0:k - 1, "value"] = "n/a"
    bad.loc[k:2 * k - 1, "unit"] = "mg"
    bad.loc[2 * k:3 * k - 1, "effective_date"] = "2015-02-30"
    bad.loc[3 * k:4 * k - 1, ["loinc", "value", "unit"]] = ["18262-6", "2500", "mg/dL"]
    bad.loc[4 * k:, "patient_id"] = UNKNOWN_PATIENT
    tables["labs.csv"] = pd.concat([labs, bad], ignore_index=True)

    diagnoses = tables["diagnoses.csv"]
    bad_dx = diagnoses.sample(n=k, random_state=rng.integers(2**31)).assign(onset_date="2014-13-01")
    tables["diagnoses.csv"] = pd.concat([diagnoses, bad_dx], ignore_index=True)

    lifestyle = tables["lifestyle.csv"]
    corrupt = rng.choice(len(lifestyle), size=max(1, len(lifestyle) // 1000), replace=False)
    lifestyle.loc[corrupt, "smoking_status"] = "sometimes"
    return {"lab value not a number": k, "lab unit unknown": k, "lab date impossible": k,
            "lab value out of range": k, "lab for unknown patient": k, "diagnosis date impossible": k,
            "smoking status invalid": len(corrupt)}
