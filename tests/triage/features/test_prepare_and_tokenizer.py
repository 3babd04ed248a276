"""prepare_text (the one gate raw text passes) and the jieba tokenizer with the financial dictionary."""

from __future__ import annotations

import logging
import pickle

import jieba
import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from triage.features.prepare import MAX_TEXT_CHARS, EmptyTextError, detect_language, prepare_text
from triage.features.tokenizer import domain_terms, stopwords, tokenize

# --- prepare_text ------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", " ", "   \t\n  ", "\u3000\u3000", "\r\n"])
def test_empty_or_whitespace_text_raises(raw):
    with pytest.raises(EmptyTextError):
        prepare_text(raw)


def test_none_raises_empty_text_error():
    with pytest.raises(EmptyTextError):
        prepare_text(None)  # type: ignore[arg-type]


def test_empty_text_error_is_a_value_error():
    assert issubclass(EmptyTextError, ValueError)


def test_short_text_is_not_truncated():
    raw = "信用卡被盗刷了五千元。请尽快处理"
    prepared = prepare_text(raw)
    assert prepared.text == raw
    assert prepared.truncated is False
    assert prepared.original_chars == len(raw)
    assert not prepared.pii_found


def test_long_text_is_truncated_and_reports_its_length():
    raw = "催收电话打到我单位" * 3000  # 27,000 characters, nothing for normalisation to change
    assert len(raw) > MAX_TEXT_CHARS
    prepared = prepare_text(raw)
    assert prepared.truncated is True
    assert prepared.original_chars == len(raw) == 27_000
    assert len(prepared.text) == MAX_TEXT_CHARS
    assert raw.startswith(prepared.text)


def test_text_of_exactly_the_limit_is_kept_whole():
    raw = "账" * MAX_TEXT_CHARS
    prepared = prepare_text(raw)
    assert prepared.truncated is False
    assert prepared.text == raw
    assert prepared.original_chars == MAX_TEXT_CHARS


def test_max_chars_argument_is_honoured():
    prepared = prepare_text("一二三四五六七八九十", max_chars=4)
    assert prepared.text == "一二三四"
    assert prepared.truncated is True
    assert prepared.original_chars == 10


def test_prepare_normalises_and_masks():
    prepared = prepare_text("  我的手机１３９１２３４５６７８ 一直被骚扰！！！！  ")
    assert prepared.text == "我的手机[手机号] 一直被骚扰!!"
    assert prepared.pii_found == {"phone": 1}
    assert prepared.language == "zh"


@pytest.mark.parametrize(
    "text",
    [
        "My credit card was charged twice and nobody at the bank answers the phone.",
        "wo de xin yong ka bei dao shua le, qing bang wo chu li",
        "1234567890",
    ],
)
def test_english_pinyin_or_digits_are_other(text):
    assert detect_language(text) == "other"
    assert prepare_text(text).language == "other"


@pytest.mark.parametrize(
    "text",
    [
        "信用卡被盗刷了",
        "你们的APP又闪退了，还款一直失败",
        "手机银行APP登录不了，提示系统繁忙，客服电话也打不通",
        "我在ATM上取款，卡被吞了",
    ],
)
def test_chinese_and_mostly_chinese_text_is_zh(text):
    assert detect_language(text) == "zh"
    assert prepare_text(text).language == "zh"


def test_mostly_english_with_a_few_hanzi_is_other():
    text = "I want to complain about the annual fee on my card, the staff said it was free 免费"
    assert detect_language(text) == "other"


# --- tokenizer ----------------------------------------------------------------------------------------

DOMAIN_SENTENCES = [
    ("催收的人爆通讯录，我所有同事都接到电话", "爆通讯录"),
    ("我想提前还款，他们却要收违约金", "提前还款"),
    ("我想提前还款，他们却要收违约金", "违约金"),
    ("放款的时候就扣了砍头息，到手才八千", "砍头息"),
    ("征信上多了一条逾期记录，房贷批不下来", "征信"),
    ("宣传的年化利率和实际的根本对不上", "年化利率"),
    ("协商停息挂账一直没有结果", "停息挂账"),
    ("外包催收每天打十几个电话", "外包催收"),
]


@pytest.mark.parametrize(("sentence", "term"), DOMAIN_SENTENCES)
def test_domain_terms_are_kept_whole_in_context(sentence, term):
    assert term in tokenize(sentence)


def test_every_dictionary_term_is_one_token_on_its_own():
    split = [term for term in domain_terms() if tokenize(term) != [term.lower()]]
    assert split == []


def test_user_dictionary_has_at_least_150_distinct_terms():
    terms = domain_terms()
    assert len(terms) >= 150
    assert len(set(terms)) == len(terms)
    for term in ("爆通讯录", "提前还款", "砍头息", "征信", "违约金", "年化利率"):
        assert term in terms


def test_stopwords_and_punctuation_are_dropped():
    tokens = tokenize("我的信用卡被他们盗刷了！！！？？，。、……“”（）  \t 还是没人管吗？")
    assert tokens  # something is left
    stop = stopwords()
    for token in tokens:
        assert token not in stop
        assert token.strip() == token and token
        assert any(ch.isalnum() for ch in token)
    for gone in ("我", "的", "了", "！", "？", "，", "。", "吗"):
        assert gone not in tokens
    assert "信用卡" in tokens


def test_tokens_are_lower_cased():
    tokens = tokenize("手机银行APP登录不了，ATM也吞卡")
    assert "app" in tokens and "atm" in tokens
    assert "APP" not in tokens


def test_tokenizer_leaves_global_jieba_alone():
    tokenize("催收爆通讯录")
    jieba.setLogLevel(logging.WARNING)
    # The stock jieba dictionary does not know the term; loading ours must not have added it globally.
    assert jieba.lcut("爆通讯录") != ["爆通讯录"]


def test_tfidf_with_tokenize_pickles_by_reference():
    docs = ["催收爆通讯录，还威胁上门", "提前还款收了违约金，年化利率也不对"]
    vectorizer = TfidfVectorizer(tokenizer=tokenize, token_pattern=None)
    vectorizer.fit(docs)
    blob = pickle.dumps(vectorizer)
    assert b"triage.features.tokenizer" in blob and b"tokenize" in blob
    restored = pickle.loads(blob)
    assert restored.tokenizer is tokenize
    probe = ["催收又爆通讯录了", "违约金太高", "完全无关的一句话"]
    before = vectorizer.transform(probe).toarray()
    after = restored.transform(probe).toarray()
    np.testing.assert_array_equal(before, after)
    assert before[0].sum() > 0 and before[1].sum() > 0
    assert "爆通讯录" in restored.vocabulary_ and "违约金" in restored.vocabulary_
