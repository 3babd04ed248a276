"""What the app holds while it runs: settings, the store, the metrics, and — once the model is loaded — the intake.
The app keeps one `Runtime` (`app.state.runtime`); routes and pages reach it through `serving.deps` only."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from serving.alerts import Attempt, OutboxWorker, WebhookSender
from serving.config import ServiceSettings
from serving.intake import Intake, MicroBatcher
from serving.limits import IntakeQueue, LimitMetrics
from serving.logs import get_logger
from serving.model_source import LoadedModel, load_serving_model
from serving.store import Store, StoredDecision
from serving.store.records import AlertRecord
from triage.policy import load_policy
from triage.service import TriageService

log = get_logger("serving.runtime")


class Metrics:
    """The service's own metrics, beside the HTTP ones of the instrumentator, in the app's own registry."""

    def __init__(self, registry: CollectorRegistry):
        self.decisions = Counter("triage_decisions", "Decisions made, by tier and department",
                                 ["tier", "department"], registry=registry)
        self.review_queue = Gauge("triage_review_queue_length", "Complaints waiting for a lead's review",
                                  registry=registry)
        self.model_ready = Gauge("triage_model_ready", "1 when a model is loaded and complaints are accepted",
                                 registry=registry)
        self.window = Gauge("triage_similarity_window_complaints",
                            "Complaints in the similarity engine's group window", registry=registry)
        self.group_alerts = Counter("triage_group_alerts", "Group alerts raised, by level", ["level"],
                                    registry=registry)
        self.webhook_deliveries = Counter("triage_webhook_deliveries",
                                          "Webhook delivery attempts of group alerts, by outcome (ok, failed)",
                                          ["outcome"], registry=registry)
        self.alert_outbox = Gauge("triage_alert_outbox_pending", "Group-alert webhook deliveries not yet delivered",
                                  registry=registry)
        self.limits = LimitMetrics(registry)

    def count(self, decision: StoredDecision) -> None:
        self.decisions.labels(decision.tier, decision.department).inc()

    def count_alerts(self, alerts: list[AlertRecord]) -> None:
        for alert in alerts:
            self.group_alerts.labels(alert.level).inc()

    def count_delivery(self, attempt: Attempt) -> None:
        self.webhook_deliveries.labels("ok" if attempt.ok else "failed").inc()


class ReloadInProgress(RuntimeError):
    """Another reload is running."""


@dataclass(frozen=True)
class ModelInfo:
    """The model and policy being served (`GET /v1/model`)."""

    model_version: str
    source: str
    registered_version: str | None
    loaded_at: datetime
    trained_at: str | None
    train_rows: int | None
    categories: list[str]
    metrics: dict[str, Any]
    policy_version: str


@dataclass
class Runtime:
    """What the routes work with; `intake` is None until the model is loaded."""

    settings: ServiceSettings
    store: Store
    metrics: Metrics
    intake: Intake | None = None
    batcher: MicroBatcher | None = None  # single complaints go through it when micro-batching is on
    loaded: LoadedModel | None = None
    error: str | None = None  # why the model could not be loaded
    reload_lock: threading.Lock = field(default_factory=threading.Lock)
    outbox: OutboxWorker | None = None  # sends group alerts to the webhook, when one is configured
    intake_queue: IntakeQueue = field(init=False)  # complaints waiting to be decided, bounded

    def __post_init__(self) -> None:
        self.intake_queue = IntakeQueue(self.settings.intake_queue, self.metrics.limits,
                                        self.settings.intake_max_wait_seconds)

    def start(self, loaded: LoadedModel | None = None) -> None:
        """Load the model, warm jieba and the embedder, rebuild the similarity window; then accept complaints."""
        try:
            loaded = loaded or load_serving_model(self.settings)
            service = TriageService(loaded.model, load_policy(self.settings.policy),
                                    reference_key=self.settings.reference_key())
            service.warm()
            started = time.perf_counter()
            self.intake = Intake(service, self.store, self.settings.data_dir / "similarity",
                                 alert_webhook=self.outbox is not None, on_alerts=self.alerts_committed)
            if self.settings.micro_batch > 1:
                self.batcher = MicroBatcher(self.intake, self.settings.micro_batch, self.settings.micro_batch_wait_ms)
            self.loaded = loaded
            self.metrics.model_ready.set(1)
            log.info("ready", model_version=loaded.model.version_, source=loaded.source,
                     similarity_rebuild_seconds=round(time.perf_counter() - started, 2))
        except Exception as exc:  # the service stays up (healthz) but not ready, and says why
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("model not loaded")

    def start_outbox(self) -> None:
        """Send the alert outbox to the configured webhook, from now on (what is pending from before too)."""
        settings = self.settings
        if not settings.alert_webhook_url or settings.alert_webhook_secret is None:
            return
        sender = WebhookSender(settings.alert_webhook_url, settings.alert_webhook_secret.get_secret_value(),
                               settings.alert_webhook_timeout_seconds)
        self.outbox = OutboxWorker(self.store, sender, settings.alert_webhook_retry_seconds,
                                   settings.alert_webhook_max_retry_seconds, on_attempt=self.metrics.count_delivery)
        self.outbox.start()

    def alerts_committed(self, alerts: list[AlertRecord]) -> None:
        self.metrics.count_alerts(alerts)
        if self.outbox is not None:
            self.outbox.wake()

    def stop_outbox(self) -> None:
        if self.outbox is not None:
            self.outbox.stop()

    def window_size(self) -> int:
        return self.intake.window_size() if self.intake else 0

    def reload(self, intake: Intake) -> None:
        """Load the current champion (or the model directory) and swap it in, no request failing meanwhile.
        Raises ReloadInProgress when another reload runs; any other failure leaves the previous model served."""
        if not self.reload_lock.acquire(blocking=False):
            raise ReloadInProgress("a reload is already in progress")
        try:
            loaded = load_serving_model(self.settings)
            intake.swap(loaded.model)
            self.loaded = loaded
        finally:
            self.reload_lock.release()

    def model_info(self, intake: Intake) -> ModelInfo:
        assert self.loaded is not None  # set before `intake` is
        service = intake.service
        model = service.model
        return ModelInfo(
            model_version=model.version_, source=self.loaded.source,
            registered_version=self.loaded.registered_version, loaded_at=self.loaded.loaded_at,
            trained_at=getattr(model, "trained_at_", None), train_rows=getattr(model, "n_train_", None),
            categories=service.categories(), metrics=getattr(model, "metrics_", {}),
            policy_version=service.policy.version)
