"""TriageModel: the embedder, the category head, the optional tier head and the review thresholds,
fitted together and saved as one directory."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn import config_context
from sklearn.base import BaseEstimator
from sklearn.exceptions import InconsistentVersionWarning, NotFittedError
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.utils.validation import check_is_fitted

from triage.evaluation import classification_report
from triage.features.embedders import DEFAULT_EMBEDDER, Embedder, make_embedder
from triage.features.prepare import EmptyTextError, PreparedText, prepare_text
from triage.features.tokenizer import warm_tokenizer
from triage.models.fast_predict import CompiledCalibratedClassifier
from triage.models.persistence import MODEL_FILE, ModelVersionError, check_versions, read_meta, write_meta
from triage.models.pipeline import as_frame, build_classifier, build_features, build_text_classifier
from triage.models.thresholds import below_threshold, choose_thresholds
from triage.schemas import LabelProbability, Prediction
from triage.similarity.encoder import TopicEncoder

Progress = Callable[[str, int, int], None]  # (stage, done, total)
EMBED_BATCH = 256
DEFAULT_TIER_PARAMS: dict = {"class_weight": None}


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


class UnknownLabelsError(ValueError):
    """Evaluation data holds labels the model was not trained on."""


def data_hash(texts: Sequence[str], labels: Sequence[str], tiers: Sequence[str] | None,
              sample_weight: Sequence[float] | None = None) -> str:
    """SHA-256 of the training rows; the sample weights count only when given, so unweighted data
    keeps the hash it always had."""
    digest = hashlib.sha256()
    for row in zip(texts, labels, tiers if tiers is not None else [""] * len(texts), strict=True):
        digest.update(json.dumps(row, ensure_ascii=False).encode())
    if sample_weight is not None:
        digest.update(b"sample_weight")
        digest.update(json.dumps([float(w) for w in sample_weight]).encode())
    return digest.hexdigest()


def check_sample_weight(sample_weight: np.ndarray | Sequence[float] | None, n_rows: int) -> np.ndarray | None:
    """One finite, non-negative weight per training row (None stays None: no weighting at all)."""
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.ndim != 1 or len(weights) != n_rows:
        raise ValueError(f"sample_weight needs one weight per training row: got shape {weights.shape} "
                         f"for {n_rows} rows")
    if not np.all(np.isfinite(weights)) or (weights < 0).any() or not (weights > 0).any():
        raise ValueError("sample_weight must be finite and non-negative, with at least one positive weight")
    return weights


class TriageModel(BaseEstimator):
    """Category and urgency-tier classifiers over one featurisation of the complaint, plus the topic vectors
    the similarity layer compares. Parameters are stored unchanged (scikit-learn convention); every estimator
    is built and checked in `fit`.

    Parameters
    ----------
    embedder : str
        Spec of the sentence embedding beside the n-grams: "none" (default), "use", or
        "sentence-transformers:<path>".
    feature_params : dict or None
        Keyword arguments of `build_features` (shared by both heads: a complaint is featurised once).
    category_params, tier_params : dict or None
        Keyword arguments of `build_classifier` for each head. `tier_params=None` means `DEFAULT_TIER_PARAMS`
        (unweighted classes: they read real tiers better than balanced weights, 0.701 against 0.685 on
        dev_gold; red is the rules' work).
    topic_params : dict or None
        Keyword arguments of the `TopicEncoder`; its `random_state` defaults to this model's.
    tier_reads_category : float >= 0
        Weight of the category probabilities among the tier head's features (0: the tier head reads the text
        alone). How urgent a complaint is depends on what it is about — real 合同条款 complaints are mostly
        green, real 催收行为 mostly yellow — and the category head reads that better than the tier head does:
        with it the tier head read 1–2 points more real tiers right (BENCHMARKS.md). It is trained on the
        out-of-fold category probabilities, so it learns how far to trust them on unseen text.
    target_precision : float in (0, 1]
        Precision a class's predictions must reach on out-of-fold data for its review threshold.
    cv : int >= 2
        Folds of the out-of-fold predictions (metrics and thresholds).
    random_state : int
        Seeds the folds and the topic vectors' SVD.
    n_jobs : int or None
        Cross-validation folds fitted in parallel (joblib's convention; None: one).

    Attributes
    ----------
    classes_, tiers_ : ndarray
        Category labels and tier labels (`tiers_` is None without a tier head).
    features_ : ComplaintFeatures
        The fitted featuriser.
    category_classifier_, tier_classifier_ : estimator
        The fitted heads (`tier_classifier_` is None without tiers).
    thresholds_ : dict[str, float | None]
        Per category, the lowest confidence reaching `target_precision` out of fold (None: never reached).
    topics_ : TopicEncoder
        The fitted topic-vector encoder.
    metrics_ : dict
        Out-of-fold classification reports of both heads.
    embedding_dim_, n_train_, data_hash_, trained_at_, version_ :
        Embedding width, training rows, SHA-256 of the training data, when, and the version string.
    """

    def __init__(
        self,
        embedder: str = DEFAULT_EMBEDDER,
        feature_params: dict | None = None,
        category_params: dict | None = None,
        tier_params: dict | None = None,
        topic_params: dict | None = None,
        tier_reads_category: float = 1.0,
        target_precision: float = 0.9,
        cv: int = 5,
        random_state: int = 0,
        n_jobs: int | None = None,
    ):
        self.embedder = embedder
        self.feature_params = feature_params
        self.category_params = category_params
        self.tier_params = tier_params
        self.topic_params = topic_params
        self.tier_reads_category = tier_reads_category
        self.target_precision = target_precision
        self.cv = cv
        self.random_state = random_state
        self.n_jobs = n_jobs

    # ---- features -------------------------------------------------------------------------
    def get_embedder(self) -> Embedder:
        """The embedder of the `embedder` spec, built on first use (not fitted state: never saved)."""
        if getattr(self, "_embedder", None) is None:
            self._embedder = make_embedder(self.embedder)
        return self._embedder

    def prepare(self, texts: Sequence[str]) -> list[PreparedText]:
        prepared = []
        for row, text in enumerate(texts):
            try:
                prepared.append(prepare_text(text))
            except EmptyTextError as exc:
                raise EmptyTextError(f"row {row}: {exc}") from None
        return prepared

    def embed(self, texts: Sequence[str], progress: Progress = _no_progress) -> np.ndarray:
        chunks = []
        for start in range(0, len(texts), EMBED_BATCH):
            chunks.append(self.get_embedder().encode(list(texts[start:start + EMBED_BATCH])))
            progress("embedding", min(start + EMBED_BATCH, len(texts)), len(texts))
        return np.vstack(chunks) if chunks else np.zeros((0, self.get_embedder().dim), dtype=np.float32)

    # ---- training ---------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        categories: Sequence[str],
        tiers: Sequence[str] | None = None,
        embeddings: np.ndarray | None = None,
        progress: Progress = _no_progress,
        sample_weight: np.ndarray | None = None,
        topic_texts: Sequence[str] | None = None,
    ) -> TriageModel:
        """Fit both heads. Cross-validated (out-of-fold) probabilities give the honest training
        metrics and the review thresholds; the final pipelines are then fitted on all rows.

        `sample_weight` (one per row, e.g. team-lead feedback weighted above the corpus) reaches both heads
        (every logistic regression, or every linear SVM and isotonic calibrator of an SVM head), in
        cross-validation and in the final fit. The out-of-fold metrics stay unweighted: every row counts once there."""
        if not (isinstance(self.target_precision, int | float) and 0 < self.target_precision <= 1):
            raise ValueError(f"target_precision must be in (0, 1], got {self.target_precision!r}")
        if not self.tier_reads_category >= 0:
            raise ValueError(f"tier_reads_category must be >= 0, got {self.tier_reads_category!r}")
        if not (isinstance(self.cv, int) and self.cv >= 2):
            raise ValueError(f"cv must be an integer >= 2, got {self.cv!r}")
        prepared = self.prepare(texts)
        clean = [p.text for p in prepared]
        y = np.asarray(categories, dtype=object)
        weights = check_sample_weight(sample_weight, len(clean))
        # Only pass weights when there are some: unweighted training stays exactly what it was.
        cv_params = {"classifier__sample_weight": weights} if weights is not None else None
        fit_params = {"sample_weight": weights} if weights is not None else {}
        if len(set(y)) < 2:
            raise ValueError(f"need at least two categories to train, found {sorted(set(y))}")
        if embeddings is None:
            embeddings = self.embed(clean, progress)
        elif embeddings.shape[1] != self.get_embedder().dim:
            # A model must embed new complaints the way it was trained, or its features will not line up.
            raise ValueError(f"embeddings of {embeddings.shape[1]} dimensions were given, but the embedder "
                             f"{self.embedder!r} gives {self.get_embedder().dim}")
        self.embedding_dim_ = int(embeddings.shape[1])
        frame = as_frame(clean, embeddings)
        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)

        # Honest estimates first: every fold refits the features, as a new complaint would see them.
        progress("category: cross-validation", 0, 2)
        oof = cross_val_predict(build_text_classifier(self.feature_params, self.category_params),
                                frame, y, cv=folds, method="predict_proba", params=cv_params, n_jobs=self.n_jobs)
        progress("category: final fit", 1, 2)
        self.features_ = build_features(**(self.feature_params or {})).fit(frame)
        features = self.features_.transform(frame)
        self.category_classifier_ = build_classifier(**(self.category_params or {})).fit(features, y, **fit_params)
        self.classes_ = self.category_classifier_.classes_
        self.thresholds_ = choose_thresholds(oof, y, self.classes_, self.target_precision)
        self.cv_probabilities_ = oof  # for plots at training time; not saved
        self.metrics_ = {"category_cv": classification_report(oof, y, self.classes_)}
        progress("category: final fit", 2, 2)

        self.tier_classifier_ = None
        self.tiers_ = None
        if tiers is not None:
            t = np.asarray(tiers, dtype=object)
            progress("tier: cross-validation", 0, 2)
            tier_params = DEFAULT_TIER_PARAMS if self.tier_params is None else self.tier_params
            # The tier head's own out-of-fold estimate reads the final featuriser (fitted on every row): the
            # category probabilities beside it are out of fold already, and refitting the n-grams per fold
            # would double the training time for a metric.
            tier_features = self._tier_features(features, oof)
            tier_oof = cross_val_predict(build_classifier(**tier_params), tier_features, t, cv=folds,
                                         method="predict_proba", params=fit_params or None, n_jobs=self.n_jobs)
            progress("tier: final fit", 1, 2)
            self.tier_classifier_ = build_classifier(**tier_params).fit(tier_features, t, **fit_params)
            self.tiers_ = self.tier_classifier_.classes_
            self.metrics_["tier_cv"] = classification_report(tier_oof, t, self.tiers_)
            progress("tier: final fit", 2, 2)

        progress("topic vectors", 0, 1)
        topic_clean = clean if topic_texts is None else [p.text for p in self.prepare(topic_texts)]
        self.topics_ = TopicEncoder(**({"random_state": self.random_state} | (self.topic_params or {}))).fit(
            topic_clean)
        progress("topic vectors", 1, 1)

        self._compiled: tuple | None = None
        self.data_hash_ = data_hash(clean, list(y), list(tiers) if tiers is not None else None,
                                    list(weights) if weights is not None else None)
        self.n_train_ = len(clean)
        self.trained_at_ = datetime.now(UTC).isoformat(timespec="seconds")
        self.version_ = f"{datetime.now(UTC):%Y%m%d%H%M%S}-{self.data_hash_[:8]}"
        return self

    # ---- prediction -------------------------------------------------------------------------
    def predict_proba(self, prepared: Sequence[PreparedText], embeddings: np.ndarray | None = None):
        """Category and tier probabilities for prepared texts (embedding computed here unless given)."""
        require_fitted(self)
        clean = [p.text for p in prepared]
        if embeddings is None:
            embeddings = self.embed(clean)
        # Our own featuriser made these inputs: skip scikit-learn's per-call finiteness checks.
        with config_context(assume_finite=True):
            features = self.features_.transform(as_frame(clean, embeddings))
            category_head, tier_head = self._compiled_heads()
            category = category_head.predict_proba(features)
            tier = (tier_head.predict_proba(self._tier_features(features, category))
                    if tier_head is not None else None)
        return category, tier

    def _tier_features(self, features, category_probabilities: np.ndarray):
        """The text features, and beside them the category probabilities (weighted) when the tier head reads them."""
        # Models saved before the parameter existed read the text alone.
        weight = getattr(self, "tier_reads_category", 0.0)
        if not weight:
            return features
        return sp.hstack([features, sp.csr_matrix(category_probabilities * weight)], format="csr")

    def _compiled_heads(self) -> tuple[CompiledCalibratedClassifier, CompiledCalibratedClassifier | None]:
        """Fast predictors for both heads, built once after fit or load (never pickled)."""
        compiled = getattr(self, "_compiled", None)
        if compiled is None:
            compiled = self._compiled = (
                CompiledCalibratedClassifier(self.category_classifier_),
                CompiledCalibratedClassifier(self.tier_classifier_) if self.tier_classifier_ is not None else None,
            )
        return compiled

    def predict(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> list[Prediction]:
        return self.predict_with_topics(texts, embeddings, topics=False)[0]

    def predict_with_topics(self, texts: Sequence[str], embeddings: np.ndarray | None = None,
                            topics: bool = True) -> tuple[list[Prediction], np.ndarray | None]:
        """Predictions, and the topic vectors the similarity layer compares (one text pass for both)."""
        if len(texts) == 0:
            return [], np.zeros((0, 0), dtype=np.float32) if topics else None
        prepared = self.prepare(texts)
        category, tier = self.predict_proba(prepared, embeddings)
        predictions = [self._prediction(p, category[i], None if tier is None else tier[i])
                       for i, p in enumerate(prepared)]
        vectors = self.topics_.transform([p.text for p in prepared], category) if topics else None
        return predictions, vectors

    def review_reasons(self, prepared: PreparedText, category: np.ndarray) -> list[str]:
        """Why a person should look at this prediction (empty: the model may be trusted)."""
        best = int(np.argmax(category))
        label, confidence = str(self.classes_[best]), float(category[best])
        reasons = []
        if below_threshold(label, confidence, self.thresholds_):
            threshold = self.thresholds_.get(label)
            reasons.append(f"low_confidence: {confidence:.2f} < threshold "
                           f"{'none reached' if threshold is None else f'{threshold:.2f}'} for {label}")
        if prepared.language != "zh":
            reasons.append("language: text is not mainly Chinese; the models were trained on Chinese")
        if prepared.truncated:
            reasons.append(f"truncated: {prepared.original_chars} characters, only the first "
                           f"{len(prepared.text)} were read")
        return reasons

    def _prediction(self, prepared: PreparedText, category: np.ndarray, tier: np.ndarray | None) -> Prediction:
        order = np.argsort(-category)
        label, confidence = str(self.classes_[order[0]]), float(category[order[0]])
        reasons = self.review_reasons(prepared, category)
        result = Prediction(
            category=label,
            confidence=confidence,
            top_categories=[LabelProbability(label=str(self.classes_[i]), probability=float(category[i]))
                            for i in order[:3]],
            needs_review=bool(reasons),
            review_reasons=reasons,
            language=prepared.language,
            truncated=prepared.truncated,
            masked_text=prepared.text,
            model_version=self.version_,
        )
        if tier is not None and self.tiers_ is not None:
            best = int(np.argmax(tier))
            result.tier = str(self.tiers_[best])
            result.tier_confidence = float(tier[best])
            result.tier_probabilities = {str(t): float(p) for t, p in zip(self.tiers_, tier, strict=True)}
        return result

    def evaluate(self, texts: Sequence[str], labels: Sequence[str]) -> tuple[dict, np.ndarray]:
        """Score on labelled data: the classification report plus how many rows go to review and how
        right the automatically accepted ones are. Returns (report, category probabilities)."""
        y = np.asarray(labels, dtype=object)
        unknown = sorted(set(y) - {str(c) for c in self.classes_})
        if unknown:
            raise UnknownLabelsError(f"labels the model never saw: {', '.join(unknown)}; the model knows: "
                                     f"{', '.join(map(str, self.classes_))}")
        prepared = self.prepare(texts)
        probabilities, _ = self.predict_proba(prepared)
        report = classification_report(probabilities, y, self.classes_)
        accepted = np.asarray([not self.review_reasons(p, probabilities[i]) for i, p in enumerate(prepared)])
        predicted = self.classes_[probabilities.argmax(axis=1)]
        report["review_rate"] = float(1 - accepted.mean())
        report["auto_accepted_accuracy"] = (float((predicted[accepted] == y[accepted]).mean())
                                            if accepted.any() else None)
        return report, probabilities

    def warm(self) -> None:
        """Do the lazy work now (jieba dictionary, embedder weights), not on the first complaint."""
        warm_tokenizer()
        self.get_embedder().encode(["预热"])

    # ---- persistence ------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        check_is_fitted(self, "category_classifier_")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v for k, v in self.__dict__.items()
                 if k not in {"_embedder", "_compiled", "cv_probabilities_"}}
        joblib.dump(state, directory / MODEL_FILE, compress=3)
        write_meta(directory, {
            "model_version": self.version_,
            "trained_at": self.trained_at_,
            "embedder": self.embedder,
            "embedding_dim": self.embedding_dim_,
            "labels": [str(c) for c in self.classes_],
            "tiers": None if self.tiers_ is None else [str(t) for t in self.tiers_],
            "training_data_sha256": self.data_hash_,
            "n_train": self.n_train_,
            "target_precision": self.target_precision,
            "thresholds": self.thresholds_,
            "params": {"features": self.feature_params, "category": self.category_params,
                       "tier": self.tier_params, "topics": self.topic_params, "cv": self.cv},
            "metrics": self.metrics_,
        })
        return directory

    @classmethod
    def load(cls, directory: str | Path, embedder: str | None = None) -> TriageModel:
        """Load a saved model. `embedder` overrides the recorded spec (e.g. the same model moved to
        another path); its dimension must match what the model was trained on."""
        directory = Path(directory)
        meta = read_meta(directory)
        check_versions(meta, directory)
        with warnings.catch_warnings():
            # check_versions has already said what differs, in words that name our packages.
            warnings.simplefilter("ignore", InconsistentVersionWarning)
            try:
                state = joblib.load(directory / MODEL_FILE)
            except (AttributeError, ModuleNotFoundError, ImportError) as exc:
                raise ModelVersionError(
                    f"{directory}: cannot unpickle the model ({exc}); it was written by "
                    f"{meta.get('versions', {})} — retrain it with the installed versions"
                ) from exc
        model = cls.__new__(cls)
        model.__dict__.update(state)
        if embedder is not None:
            model.embedder = embedder
            dim = model.get_embedder().dim
            if dim != model.embedding_dim_:
                raise ModelVersionError(f"{directory}: trained on {model.embedding_dim_}-d embeddings "
                                        f"({meta.get('embedder')}), but {embedder} gives {dim}-d")
        model.meta_ = meta
        return model


def require_fitted(model: TriageModel) -> None:
    try:
        check_is_fitted(model, "category_classifier_")
    except NotFittedError as exc:
        raise NotFittedError("the triage model is not trained: run `triage train` first") from exc
