"""Outcome definitions (data) and labels: an event is a first diagnosis within the horizon after index.

A patient already diagnosed on or before the index date is not at risk: the label is missing (NA), and
training leaves them out. Events after the horizon count as no event within it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features.codes import code_sets


@dataclass(frozen=True)
class Outcome:
    name: str
    display_name: str
    concept: str  # a code set in features/data/code_sets.csv
    horizon_years: int

    @property
    def codes(self) -> tuple[str, ...]:
        """The ICD-10-CM codes (category prefixes) of the concept, from the code-set data file."""
        sets = code_sets()
        return tuple(sets.loc[sets["concept"] == self.concept, "code"])


OUTCOMES: dict[str, Outcome] = {
    "cad_10y": Outcome("cad_10y", "Coronary artery disease within 10 years", "coronary_artery_disease", 10),
    "t2d_5y": Outcome("t2d_5y", "Type 2 diabetes within 5 years", "type_2_diabetes", 5),
}


def label(outcome: Outcome, events: pd.DataFrame, patients: pd.DataFrame) -> pd.Series:
    """1 / 0 / NA per patient from diagnosis rows (patient_id, concept, date)."""
    rows = events[events["concept"] == outcome.concept]
    index = rows["patient_id"].map(patients["index_date"])
    horizon_end = index + pd.DateOffset(years=outcome.horizon_years)
    prevalent = set(rows.loc[rows["date"] <= index, "patient_id"])
    incident = set(rows.loc[(rows["date"] > index) & (rows["date"] <= horizon_end), "patient_id"])
    labels = pd.Series(0, index=patients.index, dtype="Int8")
    labels[labels.index.isin(incident)] = 1
    labels[labels.index.isin(prevalent)] = pd.NA
    return labels


def horizon_end(outcome: Outcome, index: pd.Series) -> pd.Series:
    return index + pd.DateOffset(years=outcome.horizon_years)
