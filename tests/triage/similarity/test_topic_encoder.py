"""TopicEncoder: the vectors the similarity layer compares."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from triage.features.prepare import prepare_text
from triage.similarity.encoder import TopicEncoder


@pytest.fixture(scope="module")
def texts(corpus_records):
    return [prepare_text(r["text"]).text for r in corpus_records[:300]]


@pytest.fixture(scope="module")
def encoder(texts):
    return TopicEncoder(dim=32).fit(texts)


def one_hot(n, column, width=4):
    probabilities = np.zeros((n, width), dtype=np.float32)
    probabilities[:, column] = 1
    return probabilities


def test_vectors_are_unit_length_with_the_category_block_at_its_weight(encoder, texts):
    vectors = encoder.transform(texts[:20], one_hot(20, 1))
    assert vectors.shape == (20, 32 + 4) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(vectors[:, 32 + 1], np.sqrt(0.2), atol=1e-6)


def test_dot_product_is_weighted_topic_cosine_plus_category_agreement(encoder, texts):
    a = encoder.transform(texts[:1], one_hot(1, 0))[0]
    same_text_other_category = encoder.transform(texts[:1], one_hot(1, 2))[0]
    assert np.dot(a, a) == pytest.approx(1, abs=1e-5)
    assert np.dot(a, same_text_other_category) == pytest.approx(0.8, abs=1e-5)


def test_a_complaint_is_closer_to_a_reworded_copy_than_to_another_matter(encoder):
    theft = prepare_text("我的信用卡在境外被盗刷了两万元，要求银行赔偿").text
    reworded = prepare_text("信用卡被人在境外盗刷两万多，银行必须赔偿我的损失").text
    other = prepare_text("催收人员天天给我父母打电话，骚扰我的家人").text
    v = encoder.transform([theft, reworded, other], one_hot(3, 0))
    assert np.dot(v[0], v[1]) > np.dot(v[0], v[2]) + 0.1


def test_template_words_are_dropped_from_the_vocabulary(texts):
    encoder = TopicEncoder(dim=16, max_df=0.2).fit(texts)
    share = sum("客户" in t for t in texts) / len(texts)
    assert share > 0.2  # the corpus's hotline notes all say 客户…
    assert "客户" not in encoder.words_.vocabulary_


def test_small_training_sets_still_fit_and_clone_keeps_the_parameters():
    encoder = TopicEncoder(dim=128).fit(["信用卡年费", "催收电话", "贷款利息"])
    assert encoder.transform(["信用卡年费"], one_hot(1, 0)).shape == (1, encoder.n_topic_dims_ + 4)
    assert clone(encoder).get_params() == encoder.get_params()


def test_unfitted_encoder_says_so():
    with pytest.raises(NotFittedError):
        TopicEncoder().transform(["x"], one_hot(1, 0))
