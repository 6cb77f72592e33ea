"""Training: model specs, patient splits, XGBoost fitting, calibration, evaluation and MLflow tracking."""
