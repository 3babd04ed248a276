"""Compatibility only: the import path MLflow models registered before training moved out of the library
(`triage/training/` became the top-level `training/` package) still name. Nothing in the library imports it."""
