"""The training shell's commands: `triage train`, `evaluate`, `promote`, `init`, `audit`.

Registered on the `triage` command line through the `triage.commands` entry point (see pyproject.toml), so the
library's CLI never imports this package. MLflow is imported only by the commands that log or move aliases:
`triage train --no-mlflow` and `triage evaluate` run on the library alone.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.markup import escape
from rich.progress import TaskID

from training.backtest.cli import backtest
from triage.config import get_settings
from triage.console import ModelOption, err, fail, load_model, progress_bars, require_extra
from triage.data import DataError, read_table
from triage.models import ModelVersionError, TriageModel, UnknownLabelsError
from triage.vocabulary import TIERS


def register(app: typer.Typer) -> None:
    """Add this shell's commands to the `triage` app (the `triage.commands` entry point)."""
    app.command()(train)
    app.command()(evaluate)
    app.command()(promote)
    app.command()(init)
    app.command()(audit)
    app.command()(backtest)


def train(
    data: Annotated[list[Path] | None, typer.Option(
        help="Training data, CSV or JSONL; repeat for several files (default: TRIAGE_CORPUS).")] = None,
    out: Annotated[Path | None, typer.Option(help="Model directory to write (default: TRIAGE_MODEL_DIR).")] = None,
    text_column: str = "text",
    label_column: str = "category",
    tier_column: Annotated[str, typer.Option(help="Tier labels; the tier head is trained when present.")] = "tier",
    eval_data: Annotated[Path | None, typer.Option(help="Held-out data to evaluate on and log.")] = None,
    embedder: Annotated[str | None, typer.Option(help="'none', 'use' or 'sentence-transformers:<path>'.")] = None,
    mlflow: Annotated[bool, typer.Option(help="Log the run and register the model in MLflow.")] = True,
    topic_data: Annotated[Path | None, typer.Option(
        help="Fit the topic vectors (repeat and group similarity) on this file; default: the first --data file.")
    ] = None,
    feedback: Annotated[Path | None, typer.Option(
        help="Team-lead feedback (JSONL of `triage feedback export`) to merge into the training data.")] = None,
    feedback_weight: Annotated[float, typer.Option(
        help="Sample weight of each feedback row (training rows weigh 1); must be > 0.")] = 3.0,
) -> None:
    """Train the category (and tier) model, save it, log it to MLflow as the new `challenger`."""
    settings = get_settings()
    out = out or settings.model_dir
    data = data or settings.corpus
    if mlflow:
        require_extra("train", "mlflow")
    if not (np.isfinite(feedback_weight) and feedback_weight > 0):
        fail(f"--feedback-weight must be a number > 0, got {feedback_weight}")
    sample_weight: np.ndarray | None = None
    feedback_info: dict[str, str | int | float] = {}
    try:
        # A tier column is optional, but when present every row needs a tier, as every row needs a label.
        frame = pd.concat([read_table(path, [text_column, label_column], filled_if_present=(tier_column,))
                           for path in data], ignore_index=True)
        # Fitted on all 7,294 corpus rows, the topic space merged unrelated real complaints into one cluster
        # (tipdm: 3,927 of 4,306 messages) and missed two corpus bursts; fitted on the complaint stream it
        # keeps every burst and no false alert (BENCHMARKS.md). Issue 14 owns the real fix.
        topic_texts = list(read_table(topic_data or data[0], [text_column])[text_column].astype(str))
        eval_frame = read_table(eval_data, [text_column, label_column]) if eval_data else None
        if feedback is not None:
            from training.feedback import MERGED, feedback_version, merge_feedback, read_feedback

            feedback_frame = read_feedback(feedback)
            frame, sample_weight = merge_feedback(frame, feedback_frame, feedback_weight, text_column=text_column,
                                                  label_column=label_column, tier_column=tier_column)
            feedback_info = {"feedback_file": str(feedback), "feedback_version": feedback_version(feedback_frame),
                             "feedback_rows": len(feedback_frame), "feedback_weight": feedback_weight,
                             "feedback_replaced": int((frame[MERGED] == "replaced").sum()),
                             "feedback_added": int((frame[MERGED] == "added").sum())}
    except DataError as exc:
        fail(str(exc))
    tiers = list(frame[tier_column].astype(str)) if tier_column in frame.columns else None
    # Both cores for the cross-validation folds (the machine's; a training run has it to itself).
    model = TriageModel(embedder=embedder or settings.embedder, target_precision=settings.target_precision, n_jobs=-1)
    started = time.perf_counter()
    with progress_bars() as progress:
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done)

        model.fit(list(frame[text_column].astype(str)), list(frame[label_column].astype(str)), tiers,
                  progress=report, sample_weight=sample_weight, topic_texts=topic_texts)
    seconds = time.perf_counter() - started
    model.save(out)
    summary = {"model_dir": str(out), "model_version": model.version_, "train_rows": len(frame),
               "train_seconds": round(seconds, 1), "labels": [str(c) for c in model.classes_],
               "tier_head": tiers is not None,
               "cv_macro_f1": round(model.metrics_["category_cv"]["macro_f1"], 4), **feedback_info}
    evaluation, probabilities = None, None
    if eval_frame is not None:
        evaluation, probabilities = evaluation_report(model, eval_frame, text_column, label_column)
        summary["eval_macro_f1"] = round(evaluation["macro_f1"], 4)
    if mlflow:
        from training.tracking import log_training_run

        # Plots show the held-out data when given, else the out-of-fold predictions on the training data.
        if eval_frame is not None and probabilities is not None:
            plotted = (probabilities, np.asarray(eval_frame[label_column].astype(str)))
        else:
            plotted = (model.cv_probabilities_, np.asarray(frame[label_column].astype(str)))
        logged = log_training_run(
            model, out,
            params={"data": ",".join(map(str, data)), "rows": len(frame), "embedder": model.embedder,
                    "target_precision": model.target_precision, "cv": model.cv,
                    "category_params": model.category_params or "default",
                    "training_data_sha256": model.data_hash_, **feedback_info},
            evaluation=evaluation,
            evaluation_probabilities=plotted,
            tags={"feedback_version": feedback_info["feedback_version"]} if feedback_info else None,
        )
        summary.update({"mlflow_run_id": logged["run_id"], "registered_version": logged["version"],
                        "alias": "challenger"})
    print(json.dumps(summary, ensure_ascii=False, indent=2))


def evaluation_report(model: TriageModel, frame: pd.DataFrame, text_column: str, label_column: str
                      ) -> tuple[dict[str, Any], np.ndarray]:
    """The evaluation report of `model` on a labelled frame (what `evaluate` prints and `train --eval-data`
    logs: `triage.evaluation.classification_report`'s figures) and the probabilities it was computed from."""
    try:
        return model.evaluate(list(frame[text_column].astype(str)), list(frame[label_column].astype(str)))
    except UnknownLabelsError as exc:
        fail(str(exc))


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def decision_scores(model: TriageModel, frame: pd.DataFrame, text_column: str, label_column: str,
                    tier_column: str | None, policy_file: Path | None) -> dict[str, Any]:
    """The whole decision (model + policy, every complaint a first complaint) on labelled rows: the share the
    decision routes without a person and how right that share is; with a tier column, the decided tier
    (the tier model raised by the policy's rules) and the tier model alone."""
    from triage.evaluation import routing_report, tier_report
    from triage.policy import load_policy
    from triage.schemas import ComplaintIn
    from triage.service import TriageService

    service = TriageService(model, load_policy(policy_file))
    texts = list(frame[text_column].astype(str))
    decisions = []
    for start in range(0, len(texts), 256):
        decisions += service.triage([ComplaintIn(text=t) for t in texts[start:start + 256]])
    result: dict[str, Any] = {"routing": routing_report([d.category for d in decisions],
                                                        [not d.needs_review for d in decisions],
                                                        list(frame[label_column].astype(str)))}
    if tier_column is not None:
        gold = list(frame[tier_column].astype(str))
        result["tier"] = tier_report([d.tier.label for d in decisions], gold)
        result["tier_model"] = tier_report([d.tier.model_label or "" for d in decisions], gold)
    return result


def evaluate(
    data: Annotated[Path, typer.Option(help="Labelled data, CSV or JSONL.")],
    model: ModelOption = None,
    text_column: str = "text",
    label_column: str = "category",
    tier_column: Annotated[str, typer.Option(help="Tier column; scored when the data has it.")] = "tier",
    policy: Annotated[Path | None, typer.Option(help="Routing policy for the decided tier (default: bundled).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Score a model on labelled data: macro-F1, accuracy, ECE, accuracy by coverage, per class; the share
    routed without review and its accuracy; with a tier column, tier accuracy, macro-F1, red recall and
    precision and the confusion matrix of the decided tier."""
    try:
        frame = read_table(data, [text_column, label_column])
    except DataError as exc:
        fail(str(exc))
    loaded = load_model(model)
    report, _ = evaluation_report(loaded, frame, text_column, label_column)
    report["model_version"] = loaded.version_
    has_tier = tier_column in frame.columns
    if has_tier:
        unknown = sorted(set(frame[tier_column].astype(str)) - set(TIERS))
        if unknown:
            fail(f"{data}: column {tier_column!r} holds {unknown}; tiers are {', '.join(TIERS)}")
    report.update(decision_scores(loaded, frame, text_column, label_column, tier_column if has_tier else None,
                                  policy))
    if not has_tier:
        report["tier"] = None
        err.print(f"no {tier_column!r} column in {data}: the category alone is scored")
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
        return
    print(f"macro-F1 {report['macro_f1']:.4f}  accuracy {report['accuracy']:.4f}  ECE {report['ece']:.4f}  "
          f"n={report['n']}")
    print("accuracy on the most confident share: " +
          "  ".join(f"{k}: {v:.3f}" for k, v in report["coverage_accuracy"].items()))
    for label, row in report["per_class"].items():
        print(f"  {label:<8} P {row['precision']:.3f}  R {row['recall']:.3f}  F1 {row['f1']:.3f}  n={row['support']}")
    routing = report["routing"]
    print(f"routed without review: {routing['auto_routed_share']:.1%}, category accuracy of those: "
          + ("—" if routing["auto_routed_accuracy"] is None else f"{routing['auto_routed_accuracy']:.3f}"))
    tier = report["tier"]
    if tier is not None:
        print(f"tier (model + policy): accuracy {tier['accuracy']:.4f}  macro-F1 {tier['macro_f1']:.4f}  "
              f"red recall {_figure(tier['red_recall'])}  red precision {_figure(tier['red_precision'])}  "
              f"(tier model alone: accuracy {report['tier_model']['accuracy']:.4f})")
        print("  confusion, rows gold / columns decided: " + " ".join(tier["confusion"]["labels"]))
        for label, row in zip(tier["confusion"]["labels"], tier["confusion"]["matrix"], strict=True):
            print(f"  {label:>6} {row}")


def audit(
    data: Annotated[Path, typer.Option(help="Labelled data, CSV or JSONL.")],
    text_column: str = "text",
    label_column: str = "category",
    out: Annotated[Path | None, typer.Option(help="Write every flagged row to this CSV.")] = None,
    top: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 20,
) -> None:
    """Rank the rows whose label is likely wrong (confident learning on out-of-fold probabilities, cleanlab),
    with the label the evidence suggests."""
    require_extra("train", "cleanlab")
    from training.audit import audit_labels

    try:
        frame = read_table(data, [text_column, label_column])
    except DataError as exc:
        fail(str(exc))
    try:
        result = audit_labels(list(frame[text_column].astype(str)), list(frame[label_column].astype(str)))
    except ValueError as exc:
        fail(f"{data}: {exc}")
    issues = result.issues
    if out is not None:
        issues.to_csv(out, index=False)
    print(f"{len(issues)} of {result.n_rows} rows ({len(issues) / result.n_rows:.1%}) are likely mislabelled"
          + (f"; all written to {out}" if out is not None else ""))
    for _, issue in issues.head(top).iterrows():
        print(f"  row {issue['row'] + 1:>5}  {issue['label']} → {issue['suggested']} "
              f"(p {issue['suggested_probability']:.2f})  {escape(issue['text'][:60])}")


def promote(
    version: Annotated[str, typer.Argument(help="Registered model version to promote.")],
    alias: str = "champion",
) -> None:
    """Point the `champion` alias (or --alias) of `complaint-triage` at VERSION."""
    require_extra("train", "mlflow")
    from mlflow.exceptions import MlflowException

    from training.tracking import REGISTERED_MODEL
    from training.tracking import promote as move_alias

    try:
        move_alias(version, alias)
    except MlflowException as exc:
        fail(f"cannot promote {REGISTERED_MODEL} version {version}: {exc.message}")
    print(f"models:/{REGISTERED_MODEL}@{alias} -> version {version}")


def init(model: ModelOption = None) -> None:
    """Train the default model on the bundled corpus when none exists, and make the first registered
    version `champion` when no champion exists yet (what `make run` does before serving)."""
    require_extra("train", "mlflow")
    from training.tracking import alias_version
    from training.tracking import promote as move_alias

    settings = get_settings()
    path = model or settings.model_dir
    usable = False
    if (path / "meta.json").exists():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                TriageModel.load(path)
            usable = True
            err.print(f"model found at {path}")
        except ModelVersionError as exc:
            err.print(f"[yellow]the model at {path} cannot be used:[/yellow] {escape(str(exc))}; retraining")
    else:
        err.print(f"no model at {path}: training the default model on {', '.join(map(str, settings.corpus))}")
    if not usable:
        train(data=settings.corpus, out=path, text_column="text", label_column="category", tier_column="tier",
              eval_data=None, embedder=None, mlflow=True)
    if alias_version("champion") is None:
        version = alias_version("challenger")
        if version is not None:
            move_alias(version, "champion")
            err.print(f"no champion yet: version {version} is now models:/complaint-triage@champion")
