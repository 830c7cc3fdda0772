"""Candidate ranking models: the feature contract, XGBoost, MMoE, popularity, calibration
and the artifact store behind ``dim_model_registry`` (issue: candidate models)."""
