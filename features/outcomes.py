"""Outcome definitions (data) and labels: an event is a first diagnosis after index, within follow-up.

A patient already diagnosed on or before the index date is not at risk: every label is missing (NA), and
training leaves them out. Each patient's follow-up ends at their last contact (follow_up.csv; nothing after it
is recorded) and, for an outcome, at its horizon (later diagnoses are not read: features/ehr/conditions.py).

Two labels per outcome:
- binary (``cad_10y``): 1 = diagnosed within the horizon; 0 = followed to the horizon without one; NA = not at
  risk, or **censored** (follow-up ended before the horizon without a diagnosis), since whether they had the
  event is unknown. Dropping them is what a binary model must do, and it biases the event rate upwards.
- time to event (``cad_time_days``, ``cad_event``): days from index to the first diagnosis (event 1) or to the
  end of follow-up (event 0), for every patient at risk; what ``task: survival`` trains on, censored kept.
Without a follow-up date (no follow_up.csv, as in older extracts) follow-up is taken as complete to the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.codes import code_sets


@dataclass(frozen=True)
class Outcome:
    name: str
    display_name: str
    concept: str  # a code set in features/data/code_sets.csv
    horizon_years: int
    survival_prefix: str  # time-to-event columns: <prefix>_time_days, <prefix>_event

    @property
    def codes(self) -> tuple[str, ...]:
        """The ICD-10-CM codes (category prefixes) of the concept, from the code-set data file."""
        sets = code_sets()
        return tuple(sets.loc[sets["concept"] == self.concept, "code"])

    @property
    def time_column(self) -> str:
        return f"{self.survival_prefix}_time_days"

    @property
    def event_column(self) -> str:
        return f"{self.survival_prefix}_event"


OUTCOMES: dict[str, Outcome] = {
    "cad_10y": Outcome("cad_10y", "Coronary artery disease within 10 years", "coronary_artery_disease", 10, "cad"),
    "t2d_5y": Outcome("t2d_5y", "Type 2 diabetes within 5 years", "type_2_diabetes", 5, "t2d"),
}


def first_diagnosis(outcome: Outcome, events: pd.DataFrame, patients: pd.DataFrame) -> tuple[pd.Series, pd.Index]:
    """(date of the first diagnosis after index per patient, NaT if none; the patients prevalent at index)."""
    rows = events[events["concept"] == outcome.concept]
    index = rows["patient_id"].map(patients["index_date"])
    prevalent = pd.Index(rows.loc[rows["date"] <= index, "patient_id"].unique())
    incident = rows[rows["date"] > index].groupby("patient_id")["date"].min()
    return incident.reindex(patients.index), prevalent


def label(outcome: Outcome, events: pd.DataFrame, patients: pd.DataFrame,
          last_contact: pd.Series | None = None) -> pd.Series:
    """1 / 0 / NA per patient from diagnosis rows (patient_id, concept, date) and each patient's last contact
    (NaT: follow-up unknown, so NA unless diagnosed; ``None``: complete follow-up to the horizon)."""
    first, prevalent = first_diagnosis(outcome, events, patients)
    end = horizon_end(outcome, patients["index_date"])
    event = first.notna() & (first <= end)
    labels = pd.Series(pd.NA, index=patients.index, dtype="Int8")
    followed = pd.Series(True, index=patients.index) if last_contact is None else last_contact >= end
    labels[followed.to_numpy()] = 0
    labels[event.to_numpy()] = 1
    labels[labels.index.isin(prevalent)] = pd.NA
    return labels


def time_to_event(outcome: Outcome, events: pd.DataFrame, patients: pd.DataFrame,
                  last_contact: pd.Series | None = None) -> pd.DataFrame:
    """``<prefix>_time_days`` (float, > 0) and ``<prefix>_event`` (Int8) per patient: the first diagnosis, or the
    end of follow-up (last contact, capped at the horizon); NA for the prevalent and for unknown follow-up."""
    first, prevalent = first_diagnosis(outcome, events, patients)
    index = patients["index_date"]
    end = horizon_end(outcome, index)
    stop = end if last_contact is None else last_contact.where(last_contact.isna() | (last_contact < end), end)
    event = first.notna() & (first <= end)
    stop = stop.where(~event, first)  # a diagnosis is follow-up, even if the last-contact date says otherwise
    days = (stop - index).dt.days.astype("float64")
    known = days.notna() & (days > 0) & ~patients.index.isin(prevalent)
    return pd.DataFrame({outcome.time_column: days.where(known),
                         outcome.event_column: pd.array(np.where(event, 1, 0), dtype="Int8")},
                        index=patients.index).assign(
        **{outcome.event_column: lambda f: f[outcome.event_column].where(known.to_numpy())})


def horizon_end(outcome: Outcome, index: pd.Series) -> pd.Series:
    return index + pd.DateOffset(years=outcome.horizon_years)
