"""jieba word tokenizer with a financial user dictionary and stopwords.

`tokenize` is a module-level function on purpose: a `TfidfVectorizer(tokenizer=jieba.lcut)` cannot be
pickled (jieba's tokenizer holds a lock), a reference to this function can.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
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


ROUTES_KEPT = 16_384  # blocks (runs of text between punctuation): ~7,000 in a batch of 256 tipdm messages; ~6 MB


class _LazyDAG(Mapping[int, list[int]]):
    """jieba's DAG of a block (every dictionary word starting at each position), built on first read: when
    the block's route is remembered, `calc` never reads it."""

    def __init__(self, build: Callable[[], dict[int, list[int]]]):
        self._build = build
        self._dag: dict[int, list[int]] | None = None

    def _get(self) -> dict[int, list[int]]:
        if self._dag is None:
            self._dag = self._build()
        return self._dag

    def __getitem__(self, key: int) -> list[int]:
        return self._get()[key]

    def __iter__(self) -> Iterator[int]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


class _SharedRouteTokenizer(jieba.Tokenizer):
    """jieba's Tokenizer, remembering the best segmentation route of its recent blocks.

    A complaint is segmented twice on its way: words with the HMM (the topic vector's word TF-IDF, the
    similarity layer's words and terms) and part-of-speech tags without it (`tagged_words`, the names of a
    matter). Both walk the same route through the same dictionary — building the DAG and the route is ~70 %
    of jieba's time on a long complaint — and differ only afterwards (the HMM re-reads runs of single
    characters; posseg looks up tags). The route of a block depends on the block and the dictionary alone, so
    it is computed once. Only the route's ends are kept: outside `calc`, jieba reads nothing else of it."""

    def __init__(self) -> None:
        super().__init__()
        self._routes: OrderedDict[str, tuple[int, ...]] = OrderedDict()
        self._routes_lock = threading.Lock()

    def get_DAG(self, sentence: str):  # jieba's name
        if sentence in self._routes:
            return _LazyDAG(lambda: super(_SharedRouteTokenizer, self).get_DAG(sentence))
        return super().get_DAG(sentence)

    def calc(self, sentence: str, DAG, route: dict) -> None:  # jieba's names
        with self._routes_lock:
            ends = self._routes.get(sentence)
            if ends is not None:
                self._routes.move_to_end(sentence)
        if ends is not None:
            route.update({i: (0.0, end) for i, end in enumerate(ends)})
            route[len(sentence)] = (0, 0)
            return
        super().calc(sentence, DAG, route)
        with self._routes_lock:
            self._routes[sentence] = tuple(route[i][1] for i in range(len(sentence)))
            if len(self._routes) > ROUTES_KEPT:
                self._routes.popitem(last=False)

    def add_word(self, word, freq=None, tag=None):
        self.forget_routes()  # a new word changes the routes through it (load_userdict adds its words here)
        super().add_word(word, freq, tag)

    def route_ends(self, sentence: str) -> tuple[int, ...]:
        """Where the best route's word starting at each position of a block ends (inclusive)."""
        with self._routes_lock:
            ends = self._routes.get(sentence)
        if ends is None:
            route: dict = {}
            self.calc(sentence, self.get_DAG(sentence), route)
            ends = tuple(route[i][1] for i in range(len(sentence)))
        return ends

    def forget_routes(self) -> None:
        with self._routes_lock:
            self._routes.clear()


@cache
def _tokenizer() -> _SharedRouteTokenizer:
    # Our own Tokenizer instance, so loading the user dictionary does not change the global jieba.
    jieba.setLogLevel(logging.WARNING)
    with _lock:
        tokenizer = _SharedRouteTokenizer()
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
    tokenizer = jieba.posseg.POSTokenizer(_tokenizer())
    tokenizer.makesure_userdict_loaded()  # the user dictionary's tags join the word table
    return tokenizer


_HAN_BLOCK = jieba.posseg.re_han_internal  # what posseg segments; the rest are separators
_LETTER_OR_DIGIT = jieba.posseg.re_eng1


@lru_cache(maxsize=1024)
def tagged_words(text: str) -> tuple[tuple[str, str], ...]:
    """(word, part-of-speech tag) pairs, with the user dictionary, without jieba's HMM for unknown words:
    4 ms for a 400-character complaint instead of 45 (unknown names come out as shorter known words, the
    same ones every time the name is written)."""
    return tuple((pair.word, pair.flag) for pair in _pos_tokenizer().lcut(text, HMM=False))


def tagged_blocks(text: str) -> list[list[tuple[str, str]]]:
    """`tagged_words` of each run of text between separators (posseg's blocks: CJK, letters, digits), block by
    block, without the separators (jieba tags them x). The same words and tags, at a fraction of the cost:
    the route is the one `tokenize` already walked, and the walk is jieba.posseg's without its generators —
    runs of single letters and digits make one "eng" word, every other word takes the dictionary's tag."""
    tokenizer, tags = _tokenizer(), _pos_tokenizer().word_tag_tab
    blocks = []
    for block in _HAN_BLOCK.split(text):
        if not block or not _HAN_BLOCK.match(block):
            continue
        ends, pairs, letters, x = tokenizer.route_ends(block), [], "", 0
        while x < len(block):
            y = ends[x] + 1
            word = block[x:y]
            if _LETTER_OR_DIGIT.match(word):
                letters += word
            else:
                if letters:
                    pairs.append((letters, "eng"))
                    letters = ""
                pairs.append((word, tags.get(word, "x")))
            x = y
        if letters:
            pairs.append((letters, "eng"))
        blocks.append(pairs)
    return blocks


def clear_word_caches() -> None:
    """Forget every remembered segmentation (for benchmarks that time segmentation from cold)."""
    _words.cache_clear()
    tagged_words.cache_clear()
    _tokenizer().forget_routes()
