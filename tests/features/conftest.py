"""A small simulated cohort, simulated and built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.simulate import SimulationSummary, simulate_cohort
from features.table import BuildReport, build_feature_table


@pytest.fixture(scope="session")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    raw = tmp_path_factory.mktemp("raw")
    return raw, simulate_cohort(raw, 3000, 17)


@pytest.fixture(scope="session")
def built(cohort: tuple[Path, SimulationSummary], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildReport]:
    out = tmp_path_factory.mktemp("built")
    report = build_feature_table(cohort[0], out / "features", out / "links.csv", out / "quarantine.csv")
    return out, report
