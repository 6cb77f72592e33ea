"""Split by patient, so no patient's records straddle training and evaluation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.errors import DataError
from training.spec import SplitFractions


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def split_patients(patient_keys: pd.Series, fractions: SplitFractions, seed: int) -> Split:
    """Assign each distinct patient to one part by a seeded hash of the key, return row positions.

    Hashing (rather than shuffling row positions) keeps a patient in the same part when the table grows
    or is reordered, so a test patient never becomes a training patient on the next run.
    """
    unit = patient_keys.astype(str).map(lambda key: _unit_interval(key, seed)).to_numpy()
    cut_train = fractions.train
    cut_valid = fractions.train + fractions.validation
    positions = np.arange(len(unit))
    return Split(
        train=positions[unit < cut_train],
        validation=positions[(unit >= cut_train) & (unit < cut_valid)],
        test=positions[unit >= cut_valid],
    )


def split_cohort(keys: pd.Series, cohort: pd.DataFrame, fractions: SplitFractions, seed: int) -> Split:
    """The spec's split: by patient, or with whole sites / a later period held out as the test set."""
    if fractions.by == "patient":
        return split_patients(keys, fractions, seed)
    held_out = _held_out(cohort, fractions)
    rest = np.flatnonzero(~held_out)
    share = fractions.train / (fractions.train + fractions.validation)
    unit = keys.iloc[rest].astype(str).map(lambda key: _unit_interval(key, seed)).to_numpy()
    return Split(train=rest[unit < share], validation=rest[unit >= share], test=np.flatnonzero(held_out))


def _held_out(cohort: pd.DataFrame, fractions: SplitFractions) -> np.ndarray:
    column = fractions.site_column if fractions.by == "site" else fractions.time_column
    if column not in cohort.columns:
        raise DataError(f"split by {fractions.by} needs a column {column!r} in the data")
    if fractions.by == "site":
        held_out = cohort[column].astype(str).isin(fractions.test_sites).to_numpy()
    else:
        held_out = (pd.to_datetime(cohort[column]) >= pd.Timestamp(fractions.test_from)).to_numpy()
    if held_out.all() or not held_out.any():
        raise DataError(f"split by {fractions.by} leaves no {'test' if not held_out.any() else 'training'} patients")
    return held_out


def _unit_interval(key: str, seed: int) -> float:
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def site_folds(keys: pd.Series, cohort: pd.DataFrame, fractions: SplitFractions, seed: int) -> list[Split]:
    """Leave-sites-out folds: each site is the test set of exactly one fold, never seen in its training.

    Sites are dealt largest first to the fold with the fewest patients so far (ties broken by a seeded
    hash of the site), which balances fold sizes; the other sites' patients split into train and
    validation by the seeded patient hash, in the spec's proportions.
    """
    if fractions.site_column not in cohort.columns:
        raise DataError(f"split by site needs a column {fractions.site_column!r} in the data")
    n_folds = fractions.folds
    if not n_folds:  # SplitFractions allows none; dose_regression's check_spec requires them
        raise DataError("site folds need split.folds (how many folds of whole sites)")
    sites = cohort[fractions.site_column].astype(str)
    sizes = sites.value_counts()
    if len(sizes) < n_folds:
        raise DataError(f"{n_folds} site folds need at least as many sites; the data has {len(sizes)}")
    order = sorted(sizes.index, key=lambda site: (-sizes[site], _unit_interval(site, seed)))
    load, fold_of = [0] * n_folds, {}
    for site in order:
        fold = min(range(n_folds), key=lambda f: (load[f], f))
        fold_of[site] = fold
        load[fold] += int(sizes[site])
    assigned = sites.map(fold_of).to_numpy()
    share = fractions.train / (fractions.train + fractions.validation)
    unit = keys.astype(str).map(lambda key: _unit_interval(key, seed)).to_numpy()
    folds = []
    for fold in range(n_folds):
        rest = np.flatnonzero(assigned != fold)
        folds.append(Split(train=rest[unit[rest] < share], validation=rest[unit[rest] >= share],
                           test=np.flatnonzero(assigned == fold)))
    return folds


def split_all(keys: pd.Series, fractions: SplitFractions, seed: int) -> Split:
    """Every patient in train or validation (no test part): the final fit after site-held-out evaluation."""
    share = fractions.train / (fractions.train + fractions.validation)
    unit = keys.astype(str).map(lambda key: _unit_interval(key, seed)).to_numpy()
    positions = np.arange(len(unit))
    return Split(train=positions[unit < share], validation=positions[unit >= share], test=positions[:0])
