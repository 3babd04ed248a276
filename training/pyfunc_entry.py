"""Entry file for MLflow's models-from-code: the model is logged by this file's path, so the registry
stores code to import rather than a pickled Python object."""

import mlflow

from training.tracking import TriagePyfunc

mlflow.models.set_model(TriagePyfunc())
