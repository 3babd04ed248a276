"""The model directory: a save/load round trip changes nothing, meta.json says what wrote the model,
and loading a directory written by other library versions warns or refuses, naming what differs."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

from triage.features.embedders import ST_PREFIX, SentenceTransformerEmbedder, UseEmbedder
from triage.models import ModelVersionError, ModelVersionWarning, TriageModel
from triage.models.persistence import FORMAT_VERSION, META_FILE, MODEL_FILE, installed_versions
from triage.models.triage_model import data_hash

TEXTS = [
    "催收员天天打电话骚扰我的家人和同事，还威胁要上门",
    "我的信用卡昨晚在境外被盗刷了5万元",
    "手机银行APP一直闪退登录不了",
    "年费被重复扣了两次",
    "My credit card was stolen",
]


def load_quietly(directory, **kwargs) -> TriageModel:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelVersionWarning)  # same versions: no warning expected
        return TriageModel.load(directory, **kwargs)


# --- round trip --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_round_trip_gives_identical_probabilities(trained_model, model_dir):
    loaded = load_quietly(model_dir)
    prepared = trained_model.prepare(TEXTS)
    embeddings = trained_model.embed([p.text for p in prepared])
    category_before, tier_before = trained_model.predict_proba(prepared, embeddings)
    category_after, tier_after = loaded.predict_proba(prepared, embeddings)
    np.testing.assert_array_equal(category_after, category_before)
    np.testing.assert_array_equal(tier_after, tier_before)
    assert list(loaded.classes_) == list(trained_model.classes_)
    assert list(loaded.tiers_) == list(trained_model.tiers_)
    assert loaded.thresholds_ == trained_model.thresholds_


@pytest.mark.slow
def test_round_trip_predictions_match_end_to_end(trained_model, model_dir):
    # The loaded model builds its own embedder from the recorded spec.
    loaded = load_quietly(model_dir)
    assert loaded.get_params() == trained_model.get_params()
    before, after = trained_model.predict(TEXTS), loaded.predict(TEXTS)
    for b, a in zip(before, after, strict=True):
        assert a.category == b.category
        assert a.confidence == pytest.approx(b.confidence, abs=1e-6)
        assert a.tier == b.tier
        assert a.review_reasons == b.review_reasons
        assert a.model_version == b.model_version == trained_model.version_


@pytest.mark.slow
def test_model_directory_holds_exactly_the_model_and_its_meta(model_dir):
    assert sorted(p.name for p in model_dir.iterdir()) == sorted([MODEL_FILE, META_FILE])


@pytest.mark.slow
def test_meta_json_records_what_wrote_the_model(trained_model, model_dir, corpus_records):
    meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
    assert meta["format_version"] == FORMAT_VERSION
    versions = meta["versions"]
    for package in ("python", "scikit-learn", "numpy", "scipy", "jieba", "complaint-triage"):
        assert package in versions
    assert versions == installed_versions()
    assert meta["labels"] == sorted({r["category"] for r in corpus_records})
    assert meta["tiers"] == ["green", "red", "yellow"]
    assert set(meta["thresholds"]) == set(meta["labels"])
    assert meta["thresholds"] == trained_model.thresholds_
    assert set(meta["metrics"]) == {"category_cv", "tier_cv"}
    assert meta["metrics"]["category_cv"]["macro_f1"] == pytest.approx(
        trained_model.metrics_["category_cv"]["macro_f1"])
    assert meta["n_train"] == len(corpus_records)
    assert meta["embedder"] == "use"
    # The data hash is over what the model read (normalised, masked), reproducible from the corpus.
    prepared = trained_model.prepare([r["text"] for r in corpus_records])
    expected = data_hash([p.text for p in prepared], [r["category"] for r in corpus_records],
                         [r["tier"] for r in corpus_records])
    assert re.fullmatch(r"[0-9a-f]{64}", meta["training_data_sha256"])
    assert meta["training_data_sha256"] == expected
    assert meta["model_version"] == trained_model.version_
    assert meta["model_version"].endswith(expected[:8])


def test_training_data_hash_depends_on_labels_and_tiers():
    texts, labels, tiers = ["信用卡被盗刷", "催收电话"], ["资金安全", "催收行为"], ["red", "yellow"]
    base = data_hash(texts, labels, tiers)
    assert data_hash(texts, labels, tiers) == base
    assert data_hash(texts, ["资金安全", "资金安全"], tiers) != base
    assert data_hash(texts, labels, ["red", "green"]) != base
    assert data_hash(texts, labels, None) != base


@pytest.mark.slow
def test_loaded_model_keeps_its_meta(model_dir):
    loaded = load_quietly(model_dir)
    assert loaded.meta_["model_version"] == loaded.version_
    assert loaded.meta_["labels"] == [str(c) for c in loaded.classes_]


# --- versions ------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("package", ["numpy", "jieba", "scikit-learn"])
def test_another_minor_version_warns_naming_package_and_versions(
    model_copy, rewrite_meta, version_bumps, package
):
    other_minor, _ = version_bumps
    installed = installed_versions()[package]
    saved = other_minor(installed)
    rewrite_meta(model_copy, versions={package: saved})
    with pytest.warns(ModelVersionWarning) as record:
        loaded = TriageModel.load(model_copy)
    messages = [str(w.message) for w in record if issubclass(w.category, ModelVersionWarning)]
    assert len(messages) == 1
    assert package in messages[0]
    assert saved in messages[0]
    assert installed in messages[0]
    assert str(model_copy) in messages[0]
    # It still loads and predicts.
    assert loaded.predict(TEXTS[:1])[0].category == "催收行为"


@pytest.mark.slow
def test_another_patch_version_is_silent(model_copy, rewrite_meta):
    major, minor, *_ = installed_versions()["numpy"].split(".")
    rewrite_meta(model_copy, versions={"numpy": f"{major}.{minor}.999"})
    load_quietly(model_copy)


@pytest.mark.slow
def test_another_scikit_learn_major_version_refuses(model_copy, rewrite_meta, version_bumps):
    _, other_major = version_bumps
    installed = installed_versions()["scikit-learn"]
    saved = other_major(installed)
    rewrite_meta(model_copy, versions={"scikit-learn": saved})
    with pytest.raises(ModelVersionError) as info:
        TriageModel.load(model_copy)
    message = str(info.value)
    assert "scikit-learn" in message
    assert saved in message and installed in message


@pytest.mark.slow
@pytest.mark.parametrize("format_version", [FORMAT_VERSION + 1, 0, None], ids=["newer", "zero", "missing"])
def test_another_format_version_refuses(model_copy, rewrite_meta, format_version):
    if format_version is None:
        meta = json.loads((model_copy / META_FILE).read_text(encoding="utf-8"))
        del meta["format_version"]
        (model_copy / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    else:
        rewrite_meta(model_copy, format_version=format_version)
    with pytest.raises(ModelVersionError, match="format"):
        TriageModel.load(model_copy)


@pytest.mark.slow
def test_missing_meta_json_is_a_clear_file_not_found(model_copy):
    (model_copy / META_FILE).unlink()
    with pytest.raises(FileNotFoundError) as info:
        TriageModel.load(model_copy)
    message = str(info.value)
    assert META_FILE in message
    assert str(model_copy) in message
    assert "not a triage model directory" in message


def test_empty_directory_is_not_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(META_FILE)):
        TriageModel.load(tmp_path)


# --- embedder override -----------------------------------------------------------------------------------


def _static_model(tmp_path_factory, dim: int):
    """A `dim`-d sentence-transformers StaticEmbedding over single characters, built on disk. No network."""
    pytest.importorskip("sentence_transformers", reason="optional extra [st] not installed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.modules import StaticEmbedding
        from tokenizers import Regex, Tokenizer, models, pre_tokenizers
        from transformers import PreTrainedTokenizerFast

        directory = tmp_path_factory.mktemp("st")
        vocab = {"[UNK]": 0, "[PAD]": 1}
        for ch in sorted(set("".join(TEXTS))):
            vocab[ch] = len(vocab)
        tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
        tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
        tokenizer.save(str(directory / "tokenizer.json"))
        fast = PreTrainedTokenizerFast(tokenizer_file=str(directory / "tokenizer.json"),
                                       unk_token="[UNK]", pad_token="[PAD]")
        torch.manual_seed(0)
        path = directory / f"tiny-static-{dim}"
        SentenceTransformer(modules=[StaticEmbedding(fast, embedding_dim=dim)], device="cpu").save(str(path))
        return path


@pytest.fixture(scope="module")
def tiny_st_512(tmp_path_factory):
    return _static_model(tmp_path_factory, 512)


@pytest.fixture(scope="module")
def tiny_st_32(tmp_path_factory):
    return _static_model(tmp_path_factory, 32)


@pytest.mark.slow
def test_load_uses_the_recorded_embedder_by_default(model_dir):
    loaded = load_quietly(model_dir)
    assert loaded.embedder == "use"
    assert isinstance(loaded.get_embedder(), UseEmbedder)


@pytest.mark.slow
def test_embedder_override_on_load(trained_model, model_dir, tiny_st_512):
    spec = ST_PREFIX + str(tiny_st_512)
    loaded = load_quietly(model_dir, embedder=spec)
    assert loaded.embedder == spec
    assert isinstance(loaded.get_embedder(), SentenceTransformerEmbedder)
    assert loaded.get_embedder().model == str(tiny_st_512)
    assert loaded.meta_["embedder"] == "use"  # the directory still says what it was trained with
    prepared = loaded.prepare(TEXTS)
    overridden, _ = loaded.predict_proba(prepared)
    original, _ = trained_model.predict_proba(prepared)
    np.testing.assert_allclose(overridden.sum(axis=1), 1.0, atol=1e-6)
    # The override is really used: other vectors, other probabilities.
    assert not np.allclose(overridden, original)
    # And the override does not leak into the directory or into other loads.
    assert load_quietly(model_dir).embedder == "use"


@pytest.mark.slow
def test_embedder_override_with_another_dimension_refuses(model_dir, tiny_st_32):
    with pytest.raises(ModelVersionError, match=r"512-d embeddings .* gives 32-d"):
        load_quietly(model_dir, embedder=ST_PREFIX + str(tiny_st_32))


@pytest.mark.slow
def test_meta_records_the_embedding_dimension(model_dir):
    assert json.loads((model_dir / "meta.json").read_text(encoding="utf-8"))["embedding_dim"] == 512
