"""labs.csv / vitals.csv: patient_id, loinc, value, unit, effective_date (FHIR Observations arrive the same way).

Every value in the look-back window ending at the index date is used: per patient and lab feature the
table gets the last value (the registry feature itself), and the mean, count and slope per year of the
window. Values after the index date are never used (they would leak the future into the model). Units
are normalised to UCUM and converted to the registry's unit through features/data/lab_units.csv; an
unknown unit is quarantined, not guessed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.codes import conversion, ucum_code
from features.ehr.patients import NO_PATIENT
from features.ehr.text import read_text_csv, to_dates, to_numbers
from features.quarantine import Quarantine, SourceCheck, SourceCounts
from features.registry import FEATURES

COLUMNS = ["patient_id", "loinc", "value", "unit", "effective_date"]
LOOKBACK_DAYS = 3 * 365
LAB_FEATURES = {f.loinc: f for f in FEATURES if f.loinc}
LAB_NAMES = [f.name for f in LAB_FEATURES.values()]
TREND_STATS = ("mean", "count", "slope_per_year")


def read_labs(path: Path, patients: pd.DataFrame, quarantine: Quarantine,
              lookback_days: int = LOOKBACK_DAYS) -> tuple[pd.DataFrame, SourceCounts]:
    """One CSV file -> (patient x lab summaries from ``summarise_labs``, counts)."""
    used, counts = check_labs(SourceCheck(path.name, read_text_csv(path, COLUMNS), quarantine),
                              patients["index_date"], lookback_days)
    return summarise_labs(used, patients["index_date"]), counts


def check_labs(check: SourceCheck, index_dates: pd.Series,
               lookback_days: int = LOOKBACK_DAYS) -> tuple[pd.DataFrame, SourceCounts]:
    """Apply the lab rules; return the rows in the look-back window (patient_id, feature, date, value).

    The text is parsed once, up front, and repeated text becomes categories: at millions of rows every
    rule then works on numbers and small category tables instead of strings.
    """
    check.frame = _parsed(check.frame)
    check.ignore(~check.frame["loinc"].isin(LAB_FEATURES.keys()), "LOINC not used by any feature")
    check.reject(~check.frame["patient_id"].isin(index_dates.index), "patient_id", NO_PATIENT)
    check.reject(check.frame["date"].isna(), "effective_date", "not a valid YYYY-MM-DD date")
    check.reject(check.frame["number"].isna() | np.isinf(check.frame["number"]), "value", "value is not a number")
    _convert_units(check)
    _check_ranges(check)
    index = _index_dates(check.frame["patient_id"], index_dates)
    check.ignore(check.frame["date"].to_numpy() > index, "after the index date")
    index = _index_dates(check.frame["patient_id"], index_dates)
    check.ignore(check.frame["date"].to_numpy() < index - np.timedelta64(lookback_days, "D"),
                 "before the look-back window")
    used = check.finish()
    return used[["patient_id", "feature", "date", "canonical_value"]], check.counts


def _parsed(frame: pd.DataFrame) -> pd.DataFrame:
    text = frame.drop(columns=["value", "effective_date"])
    return text.assign(patient_id=frame["patient_id"].astype("category"),
                       loinc=frame["loinc"].astype("category"), unit=frame["unit"].astype("category"),
                       date=to_dates(frame["effective_date"]), number=to_numbers(frame["value"]))


def _index_dates(patient_id: pd.Series, index_dates: pd.Series) -> np.ndarray:
    """Each row's index date, looked up once per distinct patient (the column is categorical)."""
    ids = patient_id.astype("category").array
    return index_dates.reindex(ids.categories).to_numpy()[ids.codes]


def _convert_units(check: SourceCheck) -> None:
    """Factor and offset per distinct (LOINC, unit) pair, then broadcast; unknown pairs are quarantined."""
    key, loinc, unit = _pair_keys(check.frame)
    pairs = np.unique(key)
    n_units = len(unit.categories)
    pair_loinc = pd.Series(loinc.categories[pairs // n_units].astype(str))
    pair_unit = pd.Series(unit.categories[pairs % n_units].astype(str))
    factor, offset = conversion(pair_loinc, pair_unit)
    for i in np.flatnonzero(factor.isna().to_numpy()):
        shown = str(ucum_code(pair_unit.iloc[[i]]).iloc[0])[:20]
        check.reject(_pair_keys(check.frame)[0] == pairs[i], "unit",
                     f"unit '{shown}' not recognised for LOINC {pair_loinc.iloc[i]}")
    where = np.searchsorted(pairs, _pair_keys(check.frame)[0])
    names = {k: f.name for k, f in LAB_FEATURES.items()}
    check.frame = check.frame.assign(
        canonical_value=check.frame["number"].to_numpy() * factor.to_numpy()[where] + offset.to_numpy()[where],
        feature=check.frame["loinc"].map(names).astype("category"))


def _pair_keys(frame: pd.DataFrame) -> tuple[np.ndarray, pd.Categorical, pd.Categorical]:
    loinc, unit = frame["loinc"].array, frame["unit"].array
    return loinc.codes.astype(np.int64) * len(unit.categories) + unit.codes, loinc, unit


def _check_ranges(check: SourceCheck) -> None:
    for feature in LAB_FEATURES.values():
        f = check.frame
        bad = (f["feature"] == feature.name) & ~f["canonical_value"].between(feature.min, feature.max)
        check.reject(bad, "value", f"{feature.display_name} outside {feature.min:g}-{feature.max:g} {feature.unit}")


def summarise_labs(used: pd.DataFrame, index_dates: pd.Series) -> pd.DataFrame:
    """Per patient (rows: ``index_dates.index``): for each lab feature the last value in the window (named as
    the feature) and ``<feature>_mean``, ``_count`` (0 when none) and ``_slope_per_year`` (NaN below two dates).

    Rows are ordered by patient, feature and date (stable) before any sum, so the figures do not depend on
    the order the records arrived in. Vectorised with numpy bincount: no per-group Python.
    """
    n_patients, n_features = len(index_dates), len(LAB_NAMES)
    patient = pd.Categorical(used["patient_id"], categories=index_dates.index).codes.astype(np.int64)
    feature = pd.Categorical(used["feature"], categories=LAB_NAMES).codes.astype(np.int64)
    index = index_dates.to_numpy()[patient]
    years = (used["date"].to_numpy() - index) / np.timedelta64(1, "D") / 365.25
    key = patient * n_features + feature
    order = np.lexsort((years, key))
    key, years, value = key[order], years[order], used["canonical_value"].to_numpy(dtype=float)[order]
    size = n_patients * n_features
    count = np.bincount(key, minlength=size).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(key, value, size) / count
        centred = years - (np.bincount(key, years, size) / count)[key]
        spread = np.bincount(key, centred * centred, size)
        slope = np.where(spread > 1e-9, np.bincount(key, centred * value, size) / spread, np.nan)
    last = np.full(size, np.nan)
    ends = np.flatnonzero(np.r_[key[1:] != key[:-1], True]) if len(key) else np.array([], dtype=np.int64)
    last[key[ends]] = value[ends]
    stats = {"": last, "_mean": mean, "_count": count, "_slope_per_year": slope}
    columns = {f"{name}{suffix}": values.reshape(n_patients, n_features)[:, j]
               for suffix, values in stats.items() for j, name in enumerate(LAB_NAMES)}
    return pd.DataFrame(columns, index=index_dates.index)
