"""A model trained once per module into a temporary MLflow registry, and an app serving it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kernel.settings import Settings
from serving.auth import issue_key
from tests.conftest import REPO, write_feature_table
from tests.serving.helpers import ready_client
from training.pipeline import train_from_spec

CANARY = "CANARY-7f3a9-PATIENT"


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("serving")
    settings = Settings(home=root / ".pmed", served_models=["cad_risk"], _env_file=None)
    features = write_feature_table(root / "features", n=3000, seed=11)
    train_from_spec(REPO / "tests" / "specs" / "cad_risk_binary.yaml", features, settings)
    return settings


@pytest.fixture(scope="module")
def api_keys(trained_home: Settings) -> dict[str, str]:
    keys = {role: issue_key(trained_home.keys_file, f"test-{role}", role)[1]
            for role in ("clinician", "application", "data_scientist")}
    return keys


@pytest.fixture(scope="module")
def client(trained_home: Settings, api_keys: dict[str, str]) -> Iterator[TestClient]:
    with ready_client(trained_home) as test_client:
        yield test_client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
