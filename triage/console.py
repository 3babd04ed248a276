"""What the commands of `triage` share, in the library and in both shells: the stderr console, failing with a
message, progress bars, and loading a model or a policy with their errors in words."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from triage.config import get_settings
from triage.models import ModelVersionError, TriageModel
from triage.policy import Policy, PolicyError, load_policy
from triage.schemas import validation_problems

err = Console(stderr=True)

ModelOption = Annotated[Path | None, typer.Option("--model", help="Model directory (default: TRIAGE_MODEL_DIR).")]
PolicyOption = Annotated[Path | None,
                         typer.Option("--policy", help="Policy file (default: TRIAGE_POLICY or the bundled one).")]


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def require_extra(extra: str, *modules: str) -> None:
    """Fail with the pip command to run when a command needs packages of an extra that is not installed
    (`pip install complaint-triage` alone installs the library, not the shells' dependencies)."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        fail(f"this command needs {', '.join(missing)}: pip install 'complaint-triage[{extra}]'")


def progress_bars() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=False)


def load_model(path: Path | None) -> TriageModel:
    """The model of `path` (default: TRIAGE_MODEL_DIR); its version warnings printed, its errors fatal."""
    path = path or get_settings().model_dir
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = TriageModel.load(path)
        for warning in caught:
            err.print(f"[yellow]warning:[/yellow] {escape(str(warning.message))}", highlight=False)
        return model
    except (FileNotFoundError, ModelVersionError) as exc:
        fail(str(exc))


def load_policy_or_fail(path: Path | None) -> Policy:
    try:
        return load_policy(path or get_settings().policy)
    except PolicyError as exc:
        fail(str(exc))


def input_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return validation_problems(exc)
    return str(exc)
