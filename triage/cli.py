"""`triage` command line: train, evaluate, predict, replay, promote, init, demo."""

from __future__ import annotations

import json
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from triage.config import get_settings
from triage.data import DataError, read_table
from triage.features.prepare import EmptyTextError
from triage.models import ModelVersionError, TriageModel, UnknownLabelsError
from triage.policy import Policy, PolicyError, load_policy
from triage.schemas import ComplaintIn
from triage.service import TriageService

app = typer.Typer(help="Triage Chinese financial-consumer complaints.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
err = Console(stderr=True)

ModelOption = Annotated[Path | None, typer.Option("--model", help="Model directory (default: TRIAGE_MODEL_DIR).")]
PolicyOption = Annotated[Path | None,
                         typer.Option("--policy", help="Policy file (default: TRIAGE_POLICY or the bundled one).")]


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=False)


def _load_model(path: Path | None) -> TriageModel:
    path = path or get_settings().model_dir
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = TriageModel.load(path)
        for warning in caught:
            err.print(f"[yellow]warning:[/yellow] {escape(str(warning.message))}", highlight=False)
        return model
    except (FileNotFoundError, ModelVersionError) as exc:
        _fail(str(exc))
        raise  # unreachable; keeps type checkers calm


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="Training data, CSV or JSONL.")] = Path("datasets/complaints.jsonl"),
    out: Annotated[Path | None, typer.Option(help="Model directory to write (default: TRIAGE_MODEL_DIR).")] = None,
    text_column: str = "text",
    label_column: str = "category",
    tier_column: Annotated[str, typer.Option(help="Tier labels; the tier head is trained when present.")] = "tier",
    eval_data: Annotated[Path | None, typer.Option(help="Held-out data to evaluate on and log.")] = None,
    embedder: Annotated[str | None, typer.Option(help="'use' or 'sentence-transformers:<path>'.")] = None,
    mlflow: Annotated[bool, typer.Option(help="Log the run and register the model in MLflow.")] = True,
    feedback: Annotated[Path | None, typer.Option(
        help="Team-lead feedback (JSONL of `triage feedback export`) to merge into the training data.")] = None,
    feedback_weight: Annotated[float, typer.Option(
        help="Sample weight of each feedback row (training rows weigh 1); must be > 0.")] = 3.0,
) -> None:
    """Train the category (and tier) model, save it, log it to MLflow as the new `challenger`."""
    settings = get_settings()
    out = out or settings.model_dir
    if not (np.isfinite(feedback_weight) and feedback_weight > 0):
        _fail(f"--feedback-weight must be a number > 0, got {feedback_weight}")
    sample_weight: np.ndarray | None = None
    feedback_info: dict[str, str | int | float] = {}
    try:
        # A tier column is optional, but when present every row needs a tier, as every row needs a label.
        frame = read_table(data, [text_column, label_column], filled_if_present=(tier_column,))
        eval_frame = read_table(eval_data, [text_column, label_column]) if eval_data else None
        if feedback is not None:
            from triage.training.feedback import MERGED, feedback_version, merge_feedback, read_feedback

            feedback_frame = read_feedback(feedback)
            frame, sample_weight = merge_feedback(frame, feedback_frame, feedback_weight, text_column=text_column,
                                                  label_column=label_column, tier_column=tier_column)
            feedback_info = {"feedback_file": str(feedback), "feedback_version": feedback_version(feedback_frame),
                             "feedback_rows": len(feedback_frame), "feedback_weight": feedback_weight,
                             "feedback_replaced": int((frame[MERGED] == "replaced").sum()),
                             "feedback_added": int((frame[MERGED] == "added").sum())}
    except DataError as exc:
        _fail(str(exc))
    tiers = list(frame[tier_column].astype(str)) if tier_column in frame.columns else None
    model = TriageModel(embedder=embedder or settings.embedder, target_precision=settings.target_precision)
    started = time.perf_counter()
    with _progress() as progress:
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done)

        model.fit(list(frame[text_column].astype(str)), list(frame[label_column].astype(str)), tiers,
                  progress=report, sample_weight=sample_weight)
    seconds = time.perf_counter() - started
    model.save(out)
    summary = {"model_dir": str(out), "model_version": model.version_, "train_rows": len(frame),
               "train_seconds": round(seconds, 1), "labels": [str(c) for c in model.classes_],
               "tier_head": tiers is not None,
               "cv_macro_f1": round(model.metrics_["category_cv"]["macro_f1"], 4), **feedback_info}
    evaluation, probabilities = None, None
    if eval_frame is not None:
        evaluation, probabilities = _evaluate(model, eval_frame, text_column, label_column)
        summary["eval_macro_f1"] = round(evaluation["macro_f1"], 4)
    if mlflow:
        from triage.training.tracking import log_training_run

        # Plots show the held-out data when given, else the out-of-fold predictions on the training data.
        if eval_frame is not None and probabilities is not None:
            plotted = (probabilities, np.asarray(eval_frame[label_column].astype(str)))
        else:
            plotted = (model.cv_probabilities_, np.asarray(frame[label_column].astype(str)))
        logged = log_training_run(
            model, out,
            params={"data": str(data), "rows": len(frame), "embedder": model.embedder,
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


def _evaluate(model: TriageModel, frame, text_column: str, label_column: str):
    try:
        return model.evaluate(list(frame[text_column].astype(str)), list(frame[label_column].astype(str)))
    except UnknownLabelsError as exc:
        _fail(str(exc))
        raise  # unreachable


def _load_policy(path: Path | None) -> Policy:
    try:
        return load_policy(path or get_settings().policy)
    except PolicyError as exc:
        _fail(str(exc))
        raise  # unreachable


def _input_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return str(exc)


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option(help="Labelled data, CSV or JSONL.")],
    model: ModelOption = None,
    text_column: str = "text",
    label_column: str = "category",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Score a model on labelled data: macro-F1, accuracy, ECE, accuracy by coverage, per class."""
    try:
        frame = read_table(data, [text_column, label_column])
    except DataError as exc:
        _fail(str(exc))
    loaded = _load_model(model)
    report, _ = _evaluate(loaded, frame, text_column, label_column)
    report["model_version"] = loaded.version_
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
        return
    print(f"macro-F1 {report['macro_f1']:.4f}  accuracy {report['accuracy']:.4f}  ECE {report['ece']:.4f}  "
          f"n={report['n']}")
    print("accuracy on the most confident share: " +
          "  ".join(f"{k}: {v:.3f}" for k, v in report["coverage_accuracy"].items()))
    for label, row in report["per_class"].items():
        print(f"  {label:<8} P {row['precision']:.3f}  R {row['recall']:.3f}  F1 {row['f1']:.3f}  n={row['support']}")


@app.command()
def predict(
    text: Annotated[str, typer.Argument(help="The complaint text.")],
    model: ModelOption = None,
    policy: PolicyOption = None,
    channel: Annotated[str | None, typer.Option(help="hotline, app, web, wechat, branch, letter")] = None,
    product: Annotated[str | None, typer.Option(help="信用卡, 消费贷, 房贷, 车贷, 储蓄, 理财, 网贷助贷, 催收")] = None,
    received_at: Annotated[datetime | None, typer.Option(help="ISO 8601; default now")] = None,
    amount: Annotated[float | None, typer.Option(help="Amount in dispute, 元")] = None,
) -> None:
    """Triage one complaint and print the whole decision as JSON."""
    service = TriageService(_load_model(model), _load_policy(policy))
    try:
        complaint = ComplaintIn.model_validate({"text": text, "channel": channel, "product": product,
                                                "received_at": received_at, "amount": amount})
        decision = service.triage_one(complaint)
    except (EmptyTextError, ValidationError) as exc:
        _fail(_input_error(exc))
    print(decision.model_dump_json(indent=2))


@app.command()
def replay(
    data: Annotated[Path, typer.Option(help="Complaints, CSV or JSONL: complaint_id, customer_id, received_at, "
                                            "text (+ channel, product, amount).")],
    out: Annotated[Path, typer.Option(help="Directory for decisions.jsonl and clusters.json.")],
    model: ModelOption = None,
    policy: PolicyOption = None,
) -> None:
    """Backtest: feed past complaints in time order through model, similarity and policy (no HTTP)."""
    from triage.replay import read_complaints
    from triage.replay import replay as run_replay

    loaded, chosen_policy = _load_model(model), _load_policy(policy)
    try:
        complaints = read_complaints(data, chosen_policy)
    except DataError as exc:
        _fail(str(exc))
    service = TriageService(loaded, chosen_policy, TriageService.new_similarity(loaded, chosen_policy))
    started = time.perf_counter()
    with _progress() as bar:
        task = bar.add_task("replay", total=len(complaints))
        summary = run_replay(service, complaints, out, progress=lambda done, total: bar.update(task, completed=done))
    elapsed = time.perf_counter() - started
    err.print(f"{summary.complaints} complaints in {elapsed:.1f} s ({summary.complaints / max(elapsed, 1e-9):.0f}/s): "
              f"{summary.repeats} repeats, {summary.coordinated} linked copy-paste complaints, "
              f"{summary.alerts} group alert(s)")
    print(summary.decisions_path)
    print(summary.clusters_path)


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Registered model version to promote.")],
    alias: str = "champion",
) -> None:
    """Point the `champion` alias (or --alias) of `complaint-triage` at VERSION."""
    from mlflow.exceptions import MlflowException

    from triage.training.tracking import REGISTERED_MODEL
    from triage.training.tracking import promote as move_alias

    try:
        move_alias(version, alias)
    except MlflowException as exc:
        _fail(f"cannot promote {REGISTERED_MODEL} version {version}: {exc.message}")
    print(f"models:/{REGISTERED_MODEL}@{alias} -> version {version}")


@app.command()
def init(model: ModelOption = None) -> None:
    """Train the default model on the bundled corpus when none exists, and make the first registered
    version `champion` when no champion exists yet (what `make run` does before serving)."""
    from triage.training.tracking import alias_version
    from triage.training.tracking import promote as move_alias

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
        err.print(f"no model at {path}: training the default model on {settings.corpus}")
    if not usable:
        train(data=settings.corpus, out=path, text_column="text", label_column="category", tier_column="tier",
              eval_data=None, embedder=None, mlflow=True)
    if alias_version("champion") is None:
        version = alias_version("challenger")
        if version is not None:
            move_alias(version, "champion")
            err.print(f"no champion yet: version {version} is now models:/complaint-triage@champion")


@app.command()
def demo(model: ModelOption = None, count: int = 6) -> None:
    """Triage a few complaints of the bundled corpus and print the decisions (the main job until the
    API exists)."""
    settings = get_settings()
    loaded = _load_model(model)
    frame = read_table(settings.corpus, ["text"])
    rows = frame.sample(n=min(count, len(frame)), random_state=7)
    service = TriageService(loaded, _load_policy(None))
    complaints = [ComplaintIn(**{k: row[k] for k in ("text", "complaint_id", "customer_id", "channel", "product",
                                                     "received_at") if k in row and row[k] is not None})
                  for _, row in rows.iterrows()]
    for decision in service.triage(complaints):
        print(json.dumps({
            "complaint_id": decision.complaint_id, "text": decision.masked_text[:60],
            "category": decision.category, "confidence": round(decision.category_confidence, 2),
            "tier": decision.tier.label, "reasons": [r.rule for r in decision.tier.reasons],
            "department": decision.department, "co_departments": decision.co_departments,
            "respond_by": decision.clocks.respond_by.isoformat(), "needs_review": decision.needs_review,
        }, ensure_ascii=False))


@app.command()
def bench(
    quick: Annotated[bool, typer.Option(help="Shorter runs, windows up to 100k, no training (< 3 min).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    model: ModelOption = None,
    out: Annotated[Path | None, typer.Option(help="Also write the JSON here.")] = None,
    plots: Annotated[Path | None, typer.Option(help="Write the similarity and HTTP plots (PNG) here.")] = None,
) -> None:
    """Latency, throughput, similarity at scale, cold start and memory, each beside the bare encode cost
    measured in the same run (needs wrk for the HTTP part: `apt-get install wrk`)."""
    from bench.suite import run, statistics_line

    model_dir = model or get_settings().model_dir
    if not (model_dir / "meta.json").exists():
        _fail(f"no model in {model_dir}: run `triage init` or pass --model DIR")
    result = run(model_dir, quick=quick, progress=lambda message: err.print(message))
    result["date"] = datetime.now().astimezone().isoformat(timespec="seconds")
    text = json.dumps(result, ensure_ascii=False)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
    if plots is not None:
        from bench.plots import http_plot, similarity_plot

        plots.mkdir(parents=True, exist_ok=True)
        similarity_plot(result, plots / "similarity-latency.png")
        if result["http"]:
            http_plot(result, plots / "http-latency.png")
    if as_json:
        print(text)
    else:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        err.print(statistics_line(result))


from triage.policy.cli import policy_app  # noqa: E402 - the policy sub-commands live with the policy

app.add_typer(policy_app, name="policy")

from triage.service_cli import feedback_app, keys_app, serve  # noqa: E402 - the service's commands

app.command()(serve)
app.add_typer(keys_app, name="keys")
app.add_typer(feedback_app, name="feedback")


def main() -> None:  # pragma: no cover
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
