"""Turn simulated patients into raw records as a hospital would export them (CSV extracts, VCF, PGS files).

Labs are longitudinal: the most recent measurement before the index date carries the index-date value
the truth model uses; older ones scatter around it; later ones (which must never leak into features)
drift away. A share of cholesterol and HbA1c rows use alternative units with exact conversions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from features.codes import lab_units
from features.registry import FEATURES


def _to_mmol_l(loinc: str) -> Callable[[pd.Series], pd.Series]:
    """mg/dL -> mmol/L with the one conversion factor pmed reads labs by (features/data/lab_units.csv), looked
    up when first used (importing reads no file)."""
    def convert(v: pd.Series) -> pd.Series:
        units = lab_units()
        factor = float(units.loc[(units["loinc"] == loinc) & (units["unit"] == "mmol/L"), "factor"].iloc[0])
        return (v / factor).round(2)
    return convert


LAB_COLUMNS: dict[str, tuple[str, str, str | None, Callable[[pd.Series], pd.Series] | None]] = {
    # trait column -> (LOINC, unit, alternative unit, value in alternative unit)
    "ldl": ("18262-6", "mg/dL", "mmol/L", _to_mmol_l("18262-6")),
    "hdl": ("2085-9", "mg/dL", "mmol/L", _to_mmol_l("2085-9")),
    "total_chol": ("2093-3", "mg/dL", "mmol/L", _to_mmol_l("2093-3")),
    "hba1c": ("4548-4", "%", "mmol/mol", lambda v: ((v - 2.152) / 0.09148).round(0)),
    "sbp": ("8480-6", "mm[Hg]", None, None),
    "bmi": ("39156-5", "kg/m2", None, None),
}
DAY = np.timedelta64(1, "D")
_RANGE = {f.loinc: (f.min, f.max) for f in FEATURES if f.loinc}


def _plausible(values: np.ndarray, loinc: str) -> np.ndarray:
    """Keep drifted values inside the registry range, so only injected faults are ever quarantined."""
    low, high = _RANGE[loinc]
    margin = 0.02 * (high - low)
    return np.clip(values, low + margin, high - margin)


def lab_rows(rng: np.random.Generator, ids: np.ndarray, index: np.ndarray, traits: pd.DataFrame) -> pd.DataFrame:
    """Longitudinal lab rows for every lab in LAB_COLUMNS (about 8% of patients lack a recent value)."""
    frames = []
    n = len(ids)
    for column, (loinc, unit, alt_unit, to_alt) in LAB_COLUMNS.items():
        value = traits[column].to_numpy(dtype=float)
        recent = rng.random(n) >= 0.08
        parts = [
            (recent, index - rng.integers(0, 3 * 365, n) * DAY, value),  # the index-date value
            (rng.random(n) < 0.6, index - rng.integers(3 * 365 + 30, 8 * 365, n) * DAY,
             _plausible(value * rng.normal(1.0, 0.08, n), loinc)),  # older than the 3-year look-back
            (rng.random(n) < 0.7, index + rng.integers(1, 4 * 365, n) * DAY,
             _plausible(value * rng.normal(1.12, 0.08, n), loinc)),  # after the index date: never used
        ]
        for mask, dates, values in parts:
            frame = pd.DataFrame({"patient_id": ids[mask], "loinc": loinc, "value": np.round(values[mask], 1),
                                  "unit": unit, "effective_date": dates[mask]})
            if alt_unit is not None and to_alt is not None:
                alt = rng.random(len(frame)) < 0.05
                frame.loc[alt, "value"] = to_alt(frame.loc[alt, "value"])
                frame.loc[alt, "unit"] = alt_unit
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def diagnosis_rows(rng: np.random.Generator, ids: np.ndarray, index: np.ndarray, traits: pd.DataFrame,
                   cad_day: np.ndarray, t2d_day: np.ndarray) -> pd.DataFrame:
    """Prevalent conditions before index, incident outcome events after it, and unrelated codes.

    ``cad_day`` / ``t2d_day``: the day after index of each patient's first diagnosis as recorded (NaN where none
    is recorded: no event, or one after the end of follow-up), at any time, not only within the horizon."""
    n = len(ids)
    before = index - rng.integers(30, 10 * 365, n) * DAY
    cad_code = np.where(rng.random(n) < 0.7, "I25.10", "I21.4")
    noise_code = rng.choice(["J45.909", "M54.50", "K21.9", "E78.5"], n)
    cad, t2d = np.isfinite(cad_day), np.isfinite(t2d_day)
    parts: list[tuple[np.ndarray, str | np.ndarray, np.ndarray]] = [
        (traits["hypertension"].to_numpy() == 1, "I10", before),
        (traits["t2d"].to_numpy() == 1, "E11.9", before - 200 * DAY),
        (cad, cad_code, index + np.where(cad, cad_day, 0).astype(np.int64) * DAY),
        (t2d, "E11.9", index + np.where(t2d, t2d_day, 0).astype(np.int64) * DAY),
        (rng.random(n) < 0.5, noise_code, index + rng.integers(-3000, 3000, n) * DAY),
    ]
    return pd.concat([pd.DataFrame({"patient_id": ids[m], "icd10": np.broadcast_to(c, n)[m],
                                    "onset_date": d[m]}) for m, c, d in parts], ignore_index=True)


def follow_up_rows(ids: np.ndarray, last_contact: np.ndarray) -> pd.DataFrame:
    """follow_up.csv: each patient's last contact with the health system (the end of follow-up: lost to
    follow-up, or the date the data were extracted). Nothing after it is recorded."""
    return pd.DataFrame({"patient_id": ids, "last_contact_date": last_contact})


def drop_after_last_contact(frame: pd.DataFrame, date_column: str, ids: np.ndarray,
                            last_contact: np.ndarray) -> pd.DataFrame:
    """An EHR holds nothing dated after a patient's last contact: such rows are never written."""
    end = pd.Series(last_contact, index=ids)
    keep = frame[date_column].to_numpy() <= frame["patient_id"].map(end).to_numpy()
    return frame[keep].reset_index(drop=True)


STATINS = (("83367", "atorvastatin"), ("36567", "simvastatin"), ("301542", "rosuvastatin"))
ANTIHYPERTENSIVES = (("29046", "lisinopril"), ("17767", "amlodipine"), ("5487", "hydrochlorothiazide"))
OTHER_DRUGS = (("6809", "metformin"), ("7646", "omeprazole"), ("10582", "levothyroxine"))


def medication_rows(rng: np.random.Generator, ids: np.ndarray, index: np.ndarray,
                    traits: pd.DataFrame) -> pd.DataFrame:
    """Active prescriptions at index for treated patients, stopped courses, and unrelated drugs."""
    n = len(ids)
    start = index - rng.integers(30, 8 * 365, n) * DAY
    ongoing = np.where(rng.random(n) < 0.5, np.datetime64("NaT"), index + rng.integers(30, 900, n) * DAY)
    stopped_end = index - rng.integers(30, 365, n) * DAY
    parts = [
        (traits["statin"].to_numpy() == 1, STATINS, start, ongoing),
        (traits["antihypertensive"].to_numpy() == 1, ANTIHYPERTENSIVES, start, ongoing),
        ((traits["statin"].to_numpy() == 0) & (rng.random(n) < 0.04), STATINS,
         stopped_end - 400 * DAY, stopped_end),  # a statin course that ended before index
        (rng.random(n) < 0.3, OTHER_DRUGS, start, ongoing),
    ]
    frames = []
    for mask, drugs, begin, end in parts:
        pick = rng.integers(0, len(drugs), n)[mask]
        frames.append(pd.DataFrame({"patient_id": ids[mask], "rxnorm": [drugs[i][0] for i in pick],
                                    "drug_name": [drugs[i][1] for i in pick],
                                    "start_date": begin[mask], "end_date": end[mask]}))
    return pd.concat(frames, ignore_index=True)


def lifestyle_rows(rng: np.random.Generator, ids: np.ndarray, index: np.ndarray,
                   traits: pd.DataFrame) -> pd.DataFrame:
    n = len(ids)
    frame = pd.DataFrame({
        "patient_id": ids, "completed_date": index - rng.integers(0, 180, n) * DAY,
        "smoking_status": traits["smoking_status"], "pack_years": traits["pack_years"],
        "physical_activity_min_wk": traits["activity"], "alcohol_units_wk": traits["alcohol"],
        "diet_quality_score": traits["diet"], "sleep_hours": traits["sleep"],
    })
    for column in ("physical_activity_min_wk", "alcohol_units_wk", "diet_quality_score", "sleep_hours"):
        frame[column] = frame[column].astype(object).where(rng.random(n) >= 0.03, "")  # unanswered
    return frame
