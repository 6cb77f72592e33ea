"""Split by patient, so no patient's records straddle training and evaluation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

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


def _unit_interval(key: str, seed: int) -> float:
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
