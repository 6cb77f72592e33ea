"""The ground floor every layer stands on: what training writes and serving reads, and what both compute.

- ``bundle``: the data-only model bundle (booster, calibrator, typed artifact spec, SHA-256 manifest);
- ``artifact``: the typed description of each model kind's artifact (one pydantic model per task);
- ``calibration``: margin -> calibrated output (Platt, isotonic, the dose interval);
- ``effect_model``: scoring a treatment-effect ensemble (fitting lives in ``training``);
- ``formulas``: published clinical formulas both sides use (Pooled Cohort Equations, IWPC, CPIC rules);
- ``settings``, ``model_registry``, ``progress``: typed PMED_* settings, MLflow registry access, progress bars.

It imports no other pmed package: ``features`` may use it, ``training`` and ``serving`` build on both, and
the CLI (``pmed``) alone sits on top. The contracts are in ``pyproject.toml`` (import-linter).
"""
