"""Typed settings, read from PMED_* environment variables (and an optional .env file).

Every path pmed writes is derived from one folder, ``home`` (``.pmed/`` in the working directory by
default), so a whole installation can be moved, wiped or backed up as one unit.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All runtime configuration. Construct once at the edge (CLI, app factory) and pass it down."""

    model_config = SettingsConfigDict(env_prefix="PMED_", env_file=".env", extra="ignore")

    home: Path = Field(Path(".pmed"), description="Folder for all runtime state")
    tracking_uri: str | None = Field(None, description="MLflow tracking URI; default SQLite in home")
    registry_uri: str | None = Field(None, description="MLflow registry URI; default = tracking URI")
    models_dir: Path = Field(Path("models"), description="Folder of model specs (YAML)")
    experiment: str = Field("pmed", description="MLflow experiment for training runs")
    host: str = Field("127.0.0.1", description="Address the API listens on")
    port: int = Field(8000, ge=1, le=65535, description="Port the API listens on")
    served_models: list[str] = Field(["cad_risk", "t2d_risk"], description="Registered models to serve")
    serve_alias: str = Field("champion", description="Registry alias the API serves")
    max_batch_patients: int = Field(1000, ge=1, description="Most patients in one predict call")
    reload_seconds: float = Field(10.0, ge=0, description="How often to poll the registry for a moved "
                                  "alias and hot-swap the new version; 0 = load once, never poll")
    shadow_alias: str | None = Field(None, description="Alias (e.g. challenger) also scored on every "
                                     "prediction for shadow comparison; never returned to callers")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="Largest request body accepted (413)")
    max_concurrent_predictions: int = Field(16, ge=1, description="Predict calls served at once; more get "
                                            "503 with Retry-After")
    retry_after_seconds: int = Field(1, ge=1, description="Retry-After sent with a 503 when busy")
    page_session_minutes: int = Field(30, ge=1, le=24 * 60, description="How long a sign-in to the "
                                      "clinician page lasts (signed cookie; revoking the key ends it sooner)")
    demo_api_key: SecretStr | None = Field(None, description="Key `make run` registers for the demo")
    demo_patients: int = Field(40_000, ge=200, description="Size of the demo cohort")
    seed: int = Field(20261128, description="Seed for the demo cohort")

    @field_validator("demo_api_key")
    @classmethod
    def _demo_key_is_strong(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            return None  # an empty PMED_DEMO_API_KEY= means "generate one"
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("PMED_DEMO_API_KEY must be at least 16 characters")
        return value

    @field_validator("shadow_alias")
    @classmethod
    def _empty_alias_is_none(cls, value: str | None) -> str | None:
        return value or None  # PMED_SHADOW_ALIAS= (empty) means no shadow

    @cached_property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def mlflow_tracking_uri(self) -> str:
        return self.tracking_uri or f"sqlite:///{self.resolved_home / 'mlflow.db'}"

    @property
    def mlflow_registry_uri(self) -> str:
        return self.registry_uri or self.mlflow_tracking_uri

    @property
    def artifact_root(self) -> Path:
        return self.resolved_home / "mlartifacts"

    @property
    def data_dir(self) -> Path:
        return self.resolved_home / "data"

    @property
    def demo_raw_dir(self) -> Path:
        return self.data_dir / "raw" / "demo"

    @property
    def demo_trial_dir(self) -> Path:
        return self.data_dir / "trial" / "demo"

    @property
    def demo_features_dir(self) -> Path:
        return self.data_dir / "features" / "demo"

    @property
    def quarantine_dir(self) -> Path:
        return self.resolved_home / "quarantine"

    @property
    def audit_dir(self) -> Path:
        return self.resolved_home / "audit"

    @property
    def keys_file(self) -> Path:
        return self.resolved_home / "api-keys.json"

    @property
    def secrets_dir(self) -> Path:
        return self.resolved_home / "secrets"

    @property
    def model_cache_dir(self) -> Path:
        return self.resolved_home / "serving-cache"
