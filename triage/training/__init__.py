"""Training runs: fit, evaluate, plot, and log to MLflow (tracking + registry)."""
