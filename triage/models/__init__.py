"""Category and tier estimators, review thresholds, persistence."""

from triage.models.persistence import ModelVersionError, ModelVersionWarning
from triage.models.pipeline import build_classifier, build_features, build_text_classifier
from triage.models.triage_model import TriageModel, UnknownLabelsError

__all__ = [
           "ModelVersionError",
           "ModelVersionWarning",
           "TriageModel",
           "UnknownLabelsError",
           "build_classifier",
           "build_features",
           "build_text_classifier",
]
