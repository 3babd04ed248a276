"""What identifies a matter: the specific things a complaint names, and how rare its words are.

Two complaints of one customer are the same matter when they share a specific thing — the same
account, card or contract, the same estate, branch, company or project, the same disputed charge — not
when they share a topic: two noise complaints about two different sites are two matters. Three
readings of a text serve that decision:

- `names`: named-entity-ish spans — a name followed by the kind of thing it names (XX小区, XX花园, XX公司,
  XX银行XX支行, XX路, XX村 …) and jieba's place/organisation tags — read with jieba.posseg without its
  HMM (4 ms a complaint instead of 45; the same text yields the same spans, which is all a comparison
  needs). They explain a repeat (`RepeatInfo.shared`).
- `references`: contract, case and reference numbers (`facts.py` reads them), and bank-card numbers read
  from the raw text before masking; kept only as keyed hashes, shown only masked (`mask_reference`).
- `WordRarity`: how many customers of the window used each word. A word few customers use (an estate's
  name, a branch, 165.44) says "this thing"; a word many use (物业, 利息, 投诉) says "this topic". Measured
  on the tipdm dev labels (`python -m bench.real_repeats`): the rare-word cosine separated same-matter
  pairs from other pairs of one poster better than the topic vectors or the word token-set ratio.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from triage.features.pii import bank_card_numbers
from triage.features.tokenizer import tagged_blocks

# The kind of thing a name names, at the end of the span: places, estates, organisations, products.
_KIND = re.compile(
    r"(小区|花园|家园|公寓|大厦|广场|中心|苑|园|城|府|庭|湾|栋|幢|楼"
    r"|公司|集团|银行|分行|支行|营业厅|网点|平台|医院|学校|学院|中学|小学|大学|幼儿园"
    r"|村|社区|街道|路|街|大道|桥|站|镇|乡|公园|市场|项目|工程|厂|酒店|宾馆|店)$")
_KIND_INSIDE = re.compile(_KIND.pattern.removesuffix("$"))  # a block without any kind word heads no XX小区
# Place and organisation words standing alone (3+ characters: jieba tags 礼拜 a place); not nr, a person's
# name, nor nz, which tags too much (熏天, 这两项).
_PROPER = frozenset({"ns", "nt"})
_NAME_PART = frozenset({"n", "ns", "nt", "nz", "nr", "nrt", "nrfg", "eng", "a", "b", "j", "l", "s", "an", "vn",
                        "ng", "i", "zg"})  # not m: 60期 and 20日网点 are no names
_NOT_A_HEAD = frozenset({"v", "x", "uj", "ul", "p", "d", "r", "c"})
_MAX_NAME_PARTS = 3
# Administrative prefixes: a city or district is where, not what (杭州市西湖区XX小区 ≡ XX小区).
_DEICTIC = re.compile(r"^(?:贵|我|本|该|你|此)(?:行|司|公司|单位)")  # 贵行人民路支行 ≡ 人民路支行
_ADMIN = re.compile(r"^(?:[\u4e00-\u9fffA-Z\d]{0,4}?(?<!小)[省市区县])+(?=.{3})")
_PLACEHOLDER = re.compile(r"XX|xx|某|\*|＊|×")  # XX银行, 某区: an anonymised name identifies nothing
# The key of the reference hashes: the library's and the tests' default. A service passes its own secret (a
# known key would let anyone who reads a snapshot test guessed card numbers against its hashes).
DEFAULT_REFERENCE_KEY = b"triage/matter-reference"
# The customer says this is not their first complaint about it: 上周反映过, 第三次, 至今未获答复, 原帖 …
# On the corpus 52 of its 54 later complaints of a series say so and none of its other complaints does;
# such a follow-up is often a paraphrase sharing few rare words, so it is matched on the topic instead.
FOLLOW_UP = re.compile(
    r"(?:上|前)(?:礼拜|周|星期|个月|月|次|回)[^。！？!?]{0,20}?(?:说|问|反映|投诉|致电|打电话|提)"
    r"|至今(?:未|没|无)|已就|(?:两|三|四|几|多|二)次(?:致电|投诉|反映|来电)|前后[两三四几]次|曾于|还是上次"
    r"|再次|又一次|第[二三四五六七八九十两\d]次|上次|上回|之前(?:反映|投诉|问|提)|此前|多次(?:反映|投诉)|原帖"
    r"|二次投诉|继续反映|再问|接上次|[两三四]回|已经投诉|投诉过|反映过|问过"
    r"|还没(?:有)?(?:处理|解决|回复|结果)|没人(?:回|理|管)|仍(?:然|未)|依然|依旧")


@dataclass(frozen=True)
class MatterKeys:
    """What a complaint names: spans of names, and references as {hash: masked spelling}."""

    names: frozenset[str]
    references: dict[str, str]

    @classmethod
    def empty(cls) -> MatterKeys:
        return cls(frozenset(), {})


def mask_reference(reference: str) -> str:
    """XF20230518-0712 → XF***********12: enough to tell two references apart on a page, not to use one."""
    keep = 2 if len(reference) >= 8 else 1
    return reference[:keep] + "*" * (len(reference) - 2 * keep) + reference[-keep:]


def _blake_key(key: bytes) -> bytes:
    return key if len(key) <= 64 else hashlib.sha256(key).digest()  # BLAKE2b takes keys of up to 64 bytes


def _hash(reference: str, key: bytes) -> str:
    return hashlib.blake2b(reference.upper().encode(), key=_blake_key(key), digest_size=8).hexdigest()


def key_fingerprint(key: bytes) -> str:
    """Names a reference key without revealing it: what a saved window records of the key its hashes used."""
    return hashlib.blake2b(b"triage/reference-key-fingerprint", key=_blake_key(key), digest_size=8).hexdigest()


def _names(text: str) -> set[str]:
    found = set()
    # Block by block (a name never spans a separator: jieba tags separators x, which ends a name), and only the
    # words that can head a name: a kind (XX小区) in a block that holds one, a place or organisation.
    for words in tagged_blocks(text):
        kinds = _KIND_INSIDE.search("".join(word for word, _ in words)) is not None
        for i, (word, tag) in enumerate(words):
            if kinds and _KIND.search(word) and (tag not in _NOT_A_HEAD or word.endswith("行")):  # 支行: a verb
                parts: list[str] = []
                j = i
                while j > 0 and len(parts) < _MAX_NAME_PARTS and words[j - 1][1] in _NAME_PART \
                        and any(ch.isalnum() for ch in words[j - 1][0]) and not words[j - 1][0].isdigit():
                    parts.insert(0, words[j - 1][0])
                    j -= 1
                span = _ADMIN.sub("", _DEICTIC.sub("", "".join(parts) + word))
                if len(span) >= len(word) + 2:  # a name before the kind: 金领公寓, not 公寓
                    found.add(span)
            elif tag in _PROPER and len(word) >= 3:
                found.add(_ADMIN.sub("", word))
    return {name for name in found if len(name) >= 2 and not _PLACEHOLDER.search(name)}


def matter_keys(text: str, identifiers: Iterable[str] = (), raw_text: str | None = None,
                key: bytes = DEFAULT_REFERENCE_KEY) -> MatterKeys:
    """The keys of one normalised, masked text, with the contract/case/reference numbers `facts.py` read in
    it; `raw_text` (before masking) adds its bank-card numbers. References are hashed with `key`."""
    references = {_hash(i, key): mask_reference(i) for i in identifiers}
    if raw_text:
        references |= {_hash(n, key): mask_reference(n) for n in bank_card_numbers(raw_text)}
    return MatterKeys(frozenset(_names(text)), references)


def same_name(a: str, b: str) -> bool:
    """One span names the other's thing: equal, or the shorter (3+ characters) inside the longer
    (东成大厦 in A1区东成大厦, 辉煌国际城 in 辉煌国际城二期)."""
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return short == long or (len(short) >= 3 and short in long)


def shared_names(a: Iterable[str], b: Iterable[str], specific: set[str] | None = None) -> list[str]:
    """The names of `a` that name a thing of `b` (only names in `specific` when given), shortest first."""
    b = list(b)
    found = {x if len(x) <= len(y) else y for x in a for y in b if same_name(x, y)}
    if specific is not None:
        found = {name for name in found if name in specific}
    return sorted(found, key=lambda s: (len(s), s))


class WordRarity:
    """How many customers of the window used each word: the document frequency of an idf weight, counted
    by customer so that one customer writing ten times about their estate does not make its name common."""

    def __init__(self) -> None:
        self.customers_using: Counter[str] = Counter()
        self.customers = 0

    def add(self, words: Iterable[str]) -> None:
        self.customers_using.update(words)

    def remove(self, words: Iterable[str]) -> None:
        for word in words:
            left = self.customers_using[word] - 1
            if left > 0:
                self.customers_using[word] = left
            else:
                del self.customers_using[word]

    def idf(self, word: str) -> float:
        # Smoothed as scikit-learn's TfidfVectorizer(smooth_idf=True): never zero, never dividing by zero.
        return math.log((1 + self.customers) / (1 + self.customers_using[word])) + 1

    def common(self, word: str, share: float) -> bool:
        """Used by more than `share` of the window's customers (and by more than two)."""
        return self.customers_using[word] > max(2, share * self.customers)

    def cosine(self, a: frozenset[str], b: frozenset[str]) -> float:
        """Cosine of the idf-weighted word sets: rare words shared count most."""
        if not a or not b:
            return 0.0
        weight = {w: self.idf(w) ** 2 for w in a | b}
        shared = sum(weight[w] for w in a & b)
        return shared / math.sqrt(sum(weight[w] for w in a) * sum(weight[w] for w in b))
