"""jieba word tokenizer with a financial user dictionary and stopwords.

`tokenize` is a module-level function on purpose: a `TfidfVectorizer(tokenizer=jieba.lcut)` cannot be
pickled (jieba's tokenizer holds a lock), a reference to this function can.
"""

from __future__ import annotations

import logging
import threading
from functools import cache, lru_cache
from importlib import resources

import jieba
import jieba.posseg

RESOURCES = resources.files("triage.features") / "resources"
_lock = threading.Lock()


@cache
def domain_terms() -> tuple[str, ...]:
    lines = (RESOURCES / "finance_dict.txt").read_text(encoding="utf-8").splitlines()
    return tuple(line.split()[0] for line in lines if line.strip())


@cache
def stopwords() -> frozenset[str]:
    return frozenset((RESOURCES / "stopwords.txt").read_text(encoding="utf-8").split())


@cache
def _tokenizer() -> jieba.Tokenizer:
    # Our own Tokenizer instance, so loading the user dictionary does not change the global jieba.
    jieba.setLogLevel(logging.WARNING)
    with _lock:
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
        with resources.as_file(RESOURCES / "finance_dict.txt") as path:
            tokenizer.load_userdict(str(path))
    return tokenizer


def warm_tokenizer() -> None:
    """Build jieba's prefix dictionary and its part-of-speech tables now (lazy, ~1 s and more), not on the first
    request."""
    _tokenizer()
    _pos_tokenizer().lcut("预热", HMM=False)


def tokenize(text: str) -> list[str]:
    """Words of the text, lower-cased, without stopwords, whitespace and punctuation."""
    return list(_words(text))


# One complaint's text is segmented three times on its way (the classifier's word features, the topic vector,
# the similarity layer's words): jieba is the dearest step after the embedding, so segment it once.
@lru_cache(maxsize=4096)
def _words(text: str) -> tuple[str, ...]:
    stop = stopwords()
    return tuple(
        word
        for word in _tokenizer().lcut(text.lower(), HMM=True)
        if word.strip() and word not in stop and any(ch.isalnum() for ch in word)
    )


@cache
def _pos_tokenizer() -> jieba.posseg.POSTokenizer:
    return jieba.posseg.POSTokenizer(_tokenizer())


@lru_cache(maxsize=1024)
def tagged_words(text: str) -> tuple[tuple[str, str], ...]:
    """(word, part-of-speech tag) pairs, with the user dictionary, without jieba's HMM for unknown words:
    4 ms for a 400-character complaint instead of 45 (unknown names come out as shorter known words, the
    same ones every time the name is written)."""
    return tuple((pair.word, pair.flag) for pair in _pos_tokenizer().lcut(text, HMM=False))
