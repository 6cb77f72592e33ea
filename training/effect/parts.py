"""The spec keys a trial brings (``Task.spec_parts``), at the top level of its spec, as a user writes them:

``arm_column`` (the table column naming each patient's arm), ``arms`` (``reference`` and one or more
``compared`` arm values, any labels), ``randomised`` (true: a randomised trial; false: observational, refused
until its doubly-robust path lands), ``outcome_kind`` (binary, continuous or time_to_event), for a
time-to-event outcome ``time_column``, ``event_column`` and ``horizon_days``, the ``learner``, ``policy_rules``
(rule name -> a column holding the arm that rule picks for each patient, e.g. a guideline), ``outcome_label``
(the outcome in words) and ``lower_is_better``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, RootModel, field_validator

from training.spec_parts import LearnerSpec, Strict

OutcomeKind = Literal["binary", "continuous", "time_to_event"]


class Arms(Strict):
    """The reference arm and the arms compared with it (one effect per compared arm, against the reference)."""

    reference: str = Field(min_length=1)
    compared: list[str] = Field(min_length=1)

    @field_validator("compared", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("compared")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("compared arms are listed more than once")
        return value

    @property
    def all(self) -> list[str]:
        """Reference first, then the compared arms: arm index 0, 1, 2, ..."""
        return [self.reference, *self.compared]


class Text(RootModel[str]):
    root: str = Field(min_length=1)


class Flag(RootModel[bool]):
    root: bool


class Kind(RootModel[OutcomeKind]):
    root: OutcomeKind


class Days(RootModel[float]):
    root: float = Field(gt=0)


class Rules(RootModel[dict[str, str]]):
    """Rule name -> the table column that holds the arm the rule picks for each patient."""

    root: dict[str, str]


SPEC_PARTS: dict[str, type[Any]] = {
    "arm_column": Text, "arms": Arms, "randomised": Flag, "outcome_kind": Kind, "time_column": Text,
    "event_column": Text, "horizon_days": Days, "learner": LearnerSpec, "policy_rules": Rules,
    "outcome_label": Text, "lower_is_better": Flag}
