"""Behaviour of the real TriageModel trained on the project corpus: clear cases, invariance to PII and
punctuation, agreement of paraphrases, direction of the urgency tier, the shape of its outputs, review
flags, empty input, labels taken from the training data, and the scikit-learn estimator contract."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from triage.features.embedders import NoEmbedder, UseEmbedder
from triage.features.prepare import MAX_TEXT_CHARS, EmptyTextError
from triage.models import TriageModel
from triage.models.triage_model import require_fitted

COLLECTION = "催收员天天打电话骚扰我的家人和同事，还威胁要上门"
THEFT = "我的信用卡昨晚在境外被盗刷了5万元"
APP_CRASH = "手机银行APP一直闪退登录不了"
DOUBLE_FEE = "年费被重复扣了两次"
POLITE_FEE_QUESTION = "您好，想请问一下这笔2元的短信提醒服务费是怎么收的？谢谢"

CLEAR_CASES = [
    pytest.param(COLLECTION, "催收行为", id="collection"),
    pytest.param(THEFT, "资金安全", id="theft"),
    pytest.param(APP_CRASH, "系统故障", id="app_crash"),
    pytest.param(DOUBLE_FEE, "定价收费", id="double_fee"),
]
CLEAR_TEXTS = [case.values[0] for case in CLEAR_CASES]

# Personal data the masker recognises (valid ID check digit, Luhn-valid card number), one kind at a time.
# (All four at once after a nine-character complaint is mostly placeholders, and the placeholders share
# characters with the 信息安全 vocabulary: that can flip a short complaint.)
PII_SUFFIXES = {
    "phone": ("，联系电话13812345678", "13812345678", "[手机号]"),
    "name_phone": ("（张三 138-1234-5678）", "138-1234-5678", "[手机号]"),
    "id_card": ("，身份证110101199003074514", "110101199003074514", "[身份证号]"),
    "bank_card": ("，卡号4111 1111 1111 1111", "4111 1111 1111 1111", "[银行卡号]"),
    "email": ("，邮箱zhang.san@example.com", "zhang.san@example.com", "[邮箱]"),
}


def predict_one(model, text):
    return model.predict([text])[0]


# --- clear cases ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("text", "category"), CLEAR_CASES)
def test_clear_cases_get_their_category(trained_model, text, category):
    prediction = predict_one(trained_model, text)
    assert prediction.category == category
    assert prediction.top_categories[0].label == category
    assert prediction.language == "zh"
    assert not prediction.truncated


@pytest.mark.slow
def test_cross_validated_quality_floor(trained_model):
    # Out-of-fold macro-F1 on the corpus was ~0.78 when these tests were written; well below that
    # means the features or the labels broke, not noise.
    report = trained_model.metrics_["category_cv"]
    assert report["n"] == trained_model.n_train_
    assert report["macro_f1"] >= 0.7
    assert trained_model.metrics_["tier_cv"]["accuracy"] >= 0.6


# --- invariance ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("text", "category"), CLEAR_CASES)
@pytest.mark.parametrize("kind", sorted(PII_SUFFIXES))
def test_personal_data_does_not_change_the_category(trained_model, text, category, kind):
    suffix, raw, placeholder = PII_SUFFIXES[kind]
    prediction = predict_one(trained_model, text + suffix)
    assert prediction.category == category
    # The model read the masked text, not the personal data.
    assert raw not in prediction.masked_text
    assert placeholder in prediction.masked_text


@pytest.mark.slow
@pytest.mark.parametrize(("text", "category"), CLEAR_CASES)
@pytest.mark.parametrize("run", ["！！！！！！", "？？？？？？", "。。。。。。", "......", "～～～～"],
                         ids=["bang", "question", "full_stop", "dots", "tilde"])
def test_punctuation_runs_do_not_change_the_category(trained_model, text, category, run):
    assert predict_one(trained_model, text + run).category == category


@pytest.mark.slow
def test_run_length_beyond_three_marks_is_invisible(trained_model):
    # Runs are cut to two marks, so three and ten exclamation marks are the same complaint.
    short, long = trained_model.predict([COLLECTION + "！！！", COLLECTION + "！" * 10])
    assert short.masked_text == long.masked_text
    assert short.confidence == pytest.approx(long.confidence, abs=1e-9)
    # The tier head reads the category probabilities too; the sentence encoder's float noise between two rows
    # of one batch (~1e-9) passes through its isotonic calibration steepened, hence the wider tolerance.
    assert short.tier_probabilities == pytest.approx(long.tier_probabilities, abs=1e-6)


@pytest.mark.slow
def test_full_width_and_half_width_forms_agree(trained_model):
    full, half = trained_model.predict(["手机银行ＡＰＰ一直闪退登录不了！", "手机银行APP一直闪退登录不了!"])
    assert full.masked_text == half.masked_text
    assert full.category == half.category == "系统故障"
    assert full.confidence == pytest.approx(half.confidence, abs=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize(
    "paraphrases",
    [
        (COLLECTION, "催收人员每天给我爸妈和单位同事打电话骚扰，说要上门找我"),
        (THEFT, "信用卡昨天夜里在国外被人盗刷五万块钱"),
        (APP_CRASH, "手机银行app老是闪退，根本登不进去"),
        (DOUBLE_FEE, "信用卡年费扣了两遍，重复收费了"),
    ],
    ids=["collection", "theft", "app_crash", "double_fee"],
)
def test_paraphrases_agree(trained_model, paraphrases):
    categories = {p.category for p in trained_model.predict(list(paraphrases))}
    assert len(categories) == 1, categories


# --- directional: urgency tier ---------------------------------------------------------------------


@pytest.mark.slow
def test_card_theft_is_red(trained_model):
    """The tier head alone sits near the red/green boundary on this text (0.43–0.46 for each, by a few
    hundredths either way across small changes of the features): it must rank red far above yellow, and
    the whole decision — the head raised by the policy's large-loss rule — is red."""
    from triage.policy import PolicyEngine, load_policy
    from triage.schemas import ComplaintIn

    prediction = predict_one(trained_model, THEFT)
    probabilities = prediction.tier_probabilities
    assert probabilities["red"] >= 0.3 and probabilities["red"] > 2 * probabilities["yellow"]
    assert prediction.tier_confidence == pytest.approx(max(probabilities.values()))
    decision = PolicyEngine(load_policy()).decide(ComplaintIn(text=THEFT), prediction)
    assert decision.tier.label == "red"


@pytest.mark.slow
def test_polite_question_about_a_small_fee_is_green(trained_model):
    prediction = predict_one(trained_model, POLITE_FEE_QUESTION)
    assert prediction.category == "定价收费"
    assert prediction.tier == "green"


@pytest.mark.slow
def test_ongoing_theft_is_more_urgent_than_a_fee_question(trained_model):
    theft, ongoing, question = trained_model.predict(
        [THEFT, THEFT + "，卡一直在我身上，现在还在不停地被刷，请马上冻结", POLITE_FEE_QUESTION]
    )
    assert theft.tier_probabilities["red"] > question.tier_probabilities["red"]
    # Saying the theft is still going on makes it more urgent, not less.
    assert ongoing.tier_probabilities["red"] >= theft.tier_probabilities["red"]
    assert ongoing.tier == "red"


# --- output shape ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_top_categories_three_sorted_and_consistent(trained_model):
    texts = [*CLEAR_TEXTS, POLITE_FEE_QUESTION, "网点排队时间有点长"]
    for prediction in trained_model.predict(texts):
        top = prediction.top_categories
        assert len(top) == 3
        probabilities = [t.probability for t in top]
        assert probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) <= 1 + 1e-9
        assert all(0 <= p <= 1 for p in probabilities)
        assert len({t.label for t in top}) == 3
        assert {t.label for t in top} <= set(trained_model.classes_)
        assert top[0].label == prediction.category
        assert top[0].probability == pytest.approx(prediction.confidence)
        assert prediction.model_version == trained_model.version_


@pytest.mark.slow
def test_probabilities_of_all_classes_sum_to_one(trained_model):
    texts = [*CLEAR_TEXTS, POLITE_FEE_QUESTION]
    category, tier = trained_model.predict_proba(trained_model.prepare(texts))
    assert category.shape == (len(texts), len(trained_model.classes_))
    np.testing.assert_allclose(category.sum(axis=1), 1.0, atol=1e-6)
    assert (category >= 0).all()
    assert tier.shape == (len(texts), 3)
    np.testing.assert_allclose(tier.sum(axis=1), 1.0, atol=1e-6)
    # predict() reports the argmax of the same probabilities.
    predicted = [p.category for p in trained_model.predict(texts)]
    assert predicted == [str(trained_model.classes_[i]) for i in category.argmax(axis=1)]


@pytest.mark.slow
def test_labels_and_thresholds_cover_the_corpus_categories(trained_model, corpus_records):
    assert list(trained_model.classes_) == sorted({r["category"] for r in corpus_records})
    assert set(trained_model.thresholds_) == {str(c) for c in trained_model.classes_}
    for threshold in trained_model.thresholds_.values():
        assert threshold is None or 0 < threshold <= 1
    assert list(trained_model.tiers_) == ["green", "red", "yellow"]


# --- review flags ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_english_text_is_flagged_for_language_review(trained_model):
    prediction = predict_one(trained_model, "My credit card was stolen and used abroad last night, help")
    assert prediction.language == "other"
    assert prediction.needs_review
    assert any(reason.startswith("language") for reason in prediction.review_reasons)


@pytest.mark.slow
def test_confident_chinese_text_needs_no_review(trained_model):
    prediction = predict_one(trained_model, COLLECTION)
    threshold = trained_model.thresholds_[prediction.category]
    assert threshold is not None and prediction.confidence >= threshold
    assert not prediction.needs_review
    assert prediction.review_reasons == []


@pytest.mark.slow
def test_long_text_is_truncated_and_flagged(trained_model):
    text = (COLLECTION + "，我已经被逼得没法正常上班了。") * 1000
    text = text[:25_000]
    assert len(text) == 25_000
    prediction = predict_one(trained_model, text)
    assert prediction.truncated
    assert prediction.needs_review
    reasons = [r for r in prediction.review_reasons if r.startswith("truncated")]
    assert len(reasons) == 1
    assert "25000" in reasons[0] and str(MAX_TEXT_CHARS) in reasons[0]
    assert len(prediction.masked_text) <= MAX_TEXT_CHARS
    assert prediction.category == "催收行为"  # the part that was read still decides


@pytest.mark.slow
@pytest.mark.parametrize("blank", ["", "   ", "\n\t", "\u3000\u3000"],
                         ids=["empty", "spaces", "newline_tab", "ideographic_spaces"])
def test_empty_text_raises_instead_of_predicting(trained_model, blank):
    with pytest.raises(EmptyTextError):
        trained_model.predict([blank])


@pytest.mark.slow
def test_an_empty_batch_gives_no_predictions(trained_model):
    assert trained_model.predict([]) == []


@pytest.mark.slow
def test_one_empty_text_in_a_batch_names_its_row(trained_model):
    with pytest.raises(EmptyTextError, match="row 1"):
        trained_model.predict([THEFT, "   ", DOUBLE_FEE])


# --- labels come from the training data -----------------------------------------------------------

CUSTOM_LABELS = {"催收行为": "A", "资金安全": "B", "系统故障": "C"}


@pytest.fixture(scope="module")
def custom_label_model(trained_model, corpus_records):
    """40 complaints of each of three categories, relabelled A/B/C, without tiers. The embeddings are
    computed beforehand (with the session model's embedder, the same spec) and passed in."""
    rows = []
    for category in CUSTOM_LABELS:
        rows += [r for r in corpus_records if r["category"] == category][:40]
    texts = [r["text"] for r in rows]
    labels = [CUSTOM_LABELS[r["category"]] for r in rows]
    embeddings = trained_model.embed([p.text for p in trained_model.prepare(texts)])
    return TriageModel(embedder="use", cv=3).fit(texts, labels, embeddings=embeddings)


@pytest.mark.slow
def test_label_set_comes_from_the_training_data(custom_label_model):
    model = custom_label_model
    assert list(model.classes_) == ["A", "B", "C"]
    assert set(model.thresholds_) == {"A", "B", "C"}
    assert set(model.metrics_["category_cv"]["per_class"]) == {"A", "B", "C"}
    predictions = model.predict([COLLECTION, THEFT, APP_CRASH, "网点排队时间有点长"])
    for prediction in predictions:
        assert prediction.category in {"A", "B", "C"}
        assert {t.label for t in prediction.top_categories} == {"A", "B", "C"}
    # And the labels mean what the training data meant.
    assert [p.category for p in predictions[:3]] == ["A", "B", "C"]


@pytest.mark.slow
def test_without_tiers_there_is_no_tier_head(custom_label_model):
    model = custom_label_model
    # The tier head's attribute was `tier_pipeline_`, and is `tier_classifier_` since the heads share
    # one featuriser; whichever this version has must be None.
    head = "tier_classifier_" if hasattr(model, "tier_classifier_") else "tier_pipeline_"
    assert getattr(model, head) is None
    assert model.tiers_ is None
    assert "tier_cv" not in model.metrics_
    prediction = model.predict([THEFT])[0]
    assert prediction.tier is None
    assert prediction.tier_confidence is None
    assert prediction.tier_probabilities is None
    _, tier = model.predict_proba(model.prepare([THEFT]))
    assert tier is None


def test_one_label_is_not_enough_to_train():
    with pytest.raises(ValueError, match="at least two categories"):
        TriageModel(cv=2).fit(["信用卡被盗刷", "催收电话"], ["A", "A"], embeddings=np.zeros((2, 512)))


# --- scikit-learn estimator contract ---------------------------------------------------------------


def test_clone_and_get_params_round_trip():
    model = TriageModel(cv=3, target_precision=0.8, category_params={"C": 0.5}, random_state=7)
    copy = clone(model)
    assert copy is not model
    assert copy.get_params() == model.get_params()
    assert copy.get_params()["cv"] == 3
    assert copy.category_params == {"C": 0.5}
    assert copy.category_params is not model.category_params  # clone deep-copies parameters
    rebuilt = TriageModel(**model.get_params())
    assert rebuilt.get_params() == model.get_params()
    # Every constructor argument is a parameter, stored unchanged.
    assert set(model.get_params()) == set(inspect.signature(TriageModel).parameters)
    model.set_params(cv=4)
    assert model.cv == 4 and copy.cv == 3


@pytest.mark.slow
def test_clone_of_a_fitted_model_is_unfitted_with_the_same_params(trained_model):
    copy = clone(trained_model)
    assert copy.get_params() == trained_model.get_params()
    with pytest.raises(NotFittedError):
        copy.predict([THEFT])
    assert trained_model.predict([THEFT])[0].category == "资金安全"  # the original is untouched


def test_predict_before_fit_raises_not_fitted():
    model = TriageModel()
    with pytest.raises(NotFittedError):
        model.predict([THEFT])
    with pytest.raises(NotFittedError):
        model.save("/nonexistent/never-written")
    with pytest.raises(NotFittedError, match="triage train"):
        require_fitted(model)
    # Failing fast: no embedder was built for a model that cannot predict anyway.
    assert getattr(model, "_embedder", None) is None


def test_default_model_reads_ngrams_alone_and_use_stays_available():
    assert isinstance(TriageModel().get_embedder(), NoEmbedder)
    assert TriageModel().get_embedder().encode(["信用卡被盗刷"]).shape == (1, 0)
    assert isinstance(TriageModel(embedder="use").get_embedder(), UseEmbedder)


@pytest.mark.parametrize(("params", "message"), [
    ({"target_precision": 0.0}, "target_precision must be in"),
    ({"target_precision": 1.5}, "target_precision must be in"),
    ({"cv": 1}, "cv must be an integer >= 2"),
])
def test_fit_refuses_parameters_out_of_range(params, message):
    with pytest.raises(ValueError, match=message):
        TriageModel(**params).fit(["信用卡被盗刷", "催收电话"] * 3, ["A", "B"] * 3)


def test_random_state_reaches_the_topic_vectors():
    assert TriageModel(random_state=7).get_params()["random_state"] == 7
    texts = ["信用卡年费扣了两次", "催收天天打电话给我妈", "手机银行闪退登不上", "理财说保本结果亏了",
             "贷款利息太高了", "征信上有一笔不是我的贷款"] * 3
    labels = ["A", "B", "C", "A", "B", "C"] * 3
    a = TriageModel(cv=2, random_state=1, topic_params={"dim": 4}).fit(texts, labels)
    assert a.topics_.random_state == 1
    b = TriageModel(cv=2, random_state=2, topic_params={"dim": 4, "random_state": 5}).fit(texts, labels)
    assert b.topics_.random_state == 5  # an explicit topic_params value wins


def test_topic_vectors_are_fitted_on_the_topic_texts_when_given():
    texts = ["信用卡年费扣了两次", "催收天天打电话给我妈", "手机银行闪退登不上", "理财说保本结果亏了",
             "贷款利息太高了", "征信上有一笔不是我的贷款"] * 3
    labels = ["A", "B", "C", "A", "B", "C"] * 3
    topic_texts = ["搅拌站噪音扰民", "小区停车位捆绑销售"] * 5
    model = TriageModel(cv=2, topic_params={"dim": 4}).fit(texts, labels, topic_texts=topic_texts)
    vocabulary = set(model.topics_.words_.vocabulary_)
    assert "搅拌站" in vocabulary and "年费" not in vocabulary
    default = TriageModel(cv=2, topic_params={"dim": 4}).fit(texts, labels)
    assert "年费" in set(default.topics_.words_.vocabulary_)
