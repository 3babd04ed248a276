"""The facts of a complaint, so a re-filed complaint can be told apart from one that brings something new.

The regulator lets a re-filed complaint without new facts be merged into the open one, while new facts
restart the clock. "New" here means: an amount, a date, a contract/case/order number or an event that
none of the earlier complaints on the matter mentioned. New wording alone is not a new fact: follow-ups
about an unanswered complaint ("上周反映过，至今没人回复") use new words but add nothing (measured on the
corpus: a new-words rule turned 6–19 of its 21 plain re-filings into false "new facts").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from triage.features.tokenizer import tokenize
from triage.policy.signals import find_amounts
from triage.similarity.matter import mask_reference

_DATE = re.compile(
    r"(?:\d{4}\s*年\s*)?\d{1,2}\s*月\s*\d{1,2}\s*[日号]"  # 2024年6月10日, 6月10号
    r"|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"  # 2024-06-10
    r"|(?<![\d.])\d{1,2}\.\d{1,2}(?![\d.%])(?=\s*[^\d元万千百块])"  # 6.10 (not 1.5万, not 3.5%)
    r"|(?:本月|上月|这个月|上个月)?(?<!\d)\d{1,2}\s*[日号](?![\d元])"  # 20日, 本月19号
    r"|(?:上|这|本)?(?:周|星期)[一二三四五六日天]"
)
# Contract, case, order and reference numbers (personal numbers are masked before we get here).
_IDENTIFIER = re.compile(
    r"[A-Za-z]{1,6}-?\d[\dA-Za-z-]{4,}"  # XF20230518-0712, GR2019-0815-3367
    r"|[（(]\d{4}[）)][^\s，。,]{0,10}?第?\d+号"  # （2024）X民初字第3318号
    r"|(?<![\d.])\d{8,}(?![\d.])"  # long reference numbers
)
# Events that change what the handler must do; each maps spellings to one name.
EVENTS: dict[str, str] = {
    "上门": r"上门|到(我)?家|来家里|堵门",
    "联系单位": r"(打|打到|找到|找|联系)(我)?(的)?(单位|公司|领导|同事|主任)",
    "联系亲友": r"(打|打到|找|联系|骚扰)(我)?(的)?(家人|妈|爸|父母|老婆|老公|亲戚|朋友|通讯录|紧急联系人)",
    "律师函": r"律师函|法院.{0,6}(短信|通知|传票)|传票",
    "拖车": r"拖车|拖走|收车",
    "冻结": r"冻结|止付|锁卡|停用",
    "扣款": r"扣款|扣了|扣除|多扣|划扣|扣费",
    "罚息": r"罚息|滞纳金|违约金",
    "征信": r"征信|逾期记录|信用记录",
    "报警": r"报警|报案|派出所|公安",
    "起诉": r"起诉|诉讼|法院|仲裁",
    "向监管投诉": r"金融监管|银保监|12378|人民银行|消协|12315",
    "媒体": r"媒体|记者|曝光|网上发帖|黑猫投诉",
    "威胁": r"威胁|恐吓|不太安全|后果自负",
    "退款": r"退款|退还|退回|返还",
    "销户": r"销户|注销",
    # A reply received (not one still awaited: 没有给予任何答复, 期待回复).
    "收到答复": r"(?<!没有)(?<![没未无不])(?:收到|得到|接到|给予了|给了|作了|做了|作出了|做出了)[^，。,！？!?]{0,8}?"
                r"(?:回复|答复|回应|处理结果)|(?:回复|答复)(?:如下|称|说|[:：])|回复的只是|来信已收悉"
                r"|(?:反馈|回复|答复)的?(?:信息|意见)?(?:是|说|称|为)",  # 反馈信息是…, 答复是…: one reported
    # Something happened to the matter since: work finished, started or stopped (not a wish: 尽快完成).
    "进展": r"已经?(?:基本)?(?:完成|完工|竣工|开工|动工|停工|拆除|启动)了?"
            r"|即将于?[^，。,]{0,8}?(?:启动|开工|动工|建设|实施)",
}
_EVENT_PATTERNS = {name: re.compile(pattern) for name, pattern in EVENTS.items()}
_CLAUSE = re.compile(r"[^。！？!?；;\n]+")
TOLD_SHARE = 0.7  # a clause with this share of its character pairs in earlier texts retells them
_MASK = re.compile(r"\[[^\]]{1,6}\]")  # [银行卡号] etc.: a masked number can't be compared


@dataclass(frozen=True)
class Facts:
    amounts: frozenset[float]
    dates: frozenset[str]
    identifiers: frozenset[str]
    events: frozenset[str]

    @classmethod
    def empty(cls) -> Facts:
        return cls(frozenset(), frozenset(), frozenset(), frozenset())

    def union(self, other: Facts) -> Facts:
        return Facts(self.amounts | other.amounts, self.dates | other.dates, self.identifiers | other.identifiers,
                     self.events | other.events)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


_NUMBERS = re.compile(r"\d+")
_MONTH_WORDS = {"这个月": "本月", "本月": "本月", "上个月": "上月", "上月": "上月"}


def _canonical_date(spelling: str) -> str:
    """One spelling per date: 6月10日 / 6月10号 / 6.10 → 6-10; 2024年6月10日 / 2024-06-10 → 2024-6-10;
    本月20日 / 这个月20号 → 本月20; 星期三 / 周三 → 周三 (这周三 keeps its 这)."""
    text = _squash(spelling)
    if "周" in text or "星期" in text:
        return text.replace("星期", "周").replace("本周", "这周").replace("周天", "周日")
    numbers = [str(int(n)) for n in _NUMBERS.findall(text)]
    if "月" in text or "-" in text or "/" in text or "." in text:
        return "-".join(numbers)
    prefix = next((v for k, v in _MONTH_WORDS.items() if text.startswith(k)), "")
    return prefix + numbers[0]


def _date_known(date: str, known: frozenset[str]) -> bool:
    """A date with a year is known when the same month and day were mentioned without one, and back."""
    if date in known:
        return True
    month_day = "-".join(date.split("-")[-2:]) if date.count("-") >= 1 else None
    return month_day is not None and any("-".join(k.split("-")[-2:]) == month_day for k in known if "-" in k)


def _pairs(words: Iterable[str]) -> set[str]:
    joined = "".join(words)
    return {joined[k:k + 2] for k in range(len(joined) - 1)}


def untold(text: str, earlier_words: Iterable[str], told_share: float = TOLD_SHARE) -> str:
    """The clauses of `text` that the earlier complaints did not already tell, joined with 。.

    A re-post repeats passages of the earlier text, here and there a word changed, and adds a paragraph; a
    fact inside a repeated passage is not new. A clause is retold when `told_share` of its character pairs
    (of its words: no stopwords, no punctuation) occur in an earlier complaint's words (`earlier_words`: each
    earlier complaint's words joined by spaces) and each of its numbers does: the same sentence with another
    amount or date is a new fact. On the tipdm dev labels this took half of the "new facts"
    flagged on long re-posts away and none of the corpus's."""
    earlier = list(earlier_words)
    told = set().union(*(_pairs(words.split()) for words in earlier))
    told_numbers = set(_NUMBERS.findall(" ".join(earlier)))
    fresh = []
    for clause in _CLAUSE.findall(text):
        pairs = _pairs(tokenize(clause))
        retold = len(pairs & told) >= told_share * len(pairs) and set(_NUMBERS.findall(clause)) <= told_numbers
        if pairs and not retold:
            fresh.append(clause)
    return "。".join(fresh)


def extract_facts(text: str) -> Facts:
    """The facts of one normalised, masked complaint text."""
    text = _MASK.sub(" ", text)
    identifiers = {_squash(m.group(0)).upper() for m in _IDENTIFIER.finditer(text)}
    # A date inside an identifier (XF20230518-0712) is not a separate date.
    scrubbed = _IDENTIFIER.sub(" ", text)
    dates = {_squash(m.group(0)) for m in _DATE.finditer(scrubbed)}
    amounts = {round(s.value, 2) for s in find_amounts(scrubbed) if s.value is not None}
    events = {name for name, pattern in _EVENT_PATTERNS.items() if pattern.search(text)}
    return Facts(frozenset(amounts), frozenset(dates), frozenset(identifiers), frozenset(events))


def _amount_known(value: float, known: Iterable[float]) -> bool:
    return any(abs(value - k) <= max(1.0, 0.005 * k) for k in known)


_FULL_DATE = re.compile(r"(?:(\d{4})\s*年\s*|(\d{4})[-/.])?(\d{1,2})\s*[月\-/.]\s*(\d{1,2})")


def resolve_date(spelling: str, on: date) -> date | None:
    """The calendar date a spelling names, read on day `on` (6月10日 → the last 10 June up to `on`);
    None for a relative or partial one (本月20日, 周三, 20号)."""
    match = _FULL_DATE.fullmatch(_squash(spelling).rstrip("日号"))
    if match is None:
        return None
    year, month, day = match.group(1) or match.group(2), int(match.group(3)), int(match.group(4))
    try:
        if year:
            return date(int(year), month, day)
        named = date(on.year, month, day)
        return named if named <= on else date(on.year - 1, month, day)
    except ValueError:  # 2月30日: not a date
        return None


def new_facts(current: Facts, earlier: Facts, on: date | None = None, last_filed: date | None = None) -> list[str]:
    """What `current` (received on day `on`) says that `earlier` (the union of the matter's earlier
    complaints, the latest received on `last_filed`) did not.

    A date up to `last_filed` is not new even when no earlier complaint wrote it: it retells the story
    (the day of an earlier filing, 2018年10月30日进行问政; the date of the contract). Measured on the tipdm dev
    labels, such dates were most of the "new facts" the labels did not see."""
    found = [f"金额 {a:,.0f} 元" if a == int(a) else f"金额 {a:,.2f} 元"
             for a in sorted(current.amounts) if not _amount_known(a, earlier.amounts)]
    known_dates = frozenset(_canonical_date(d) for d in earlier.dates)

    def retold(spelling: str) -> bool:
        named = resolve_date(spelling, on) if on is not None else None
        return named is not None and last_filed is not None and named <= last_filed

    found += [f"日期 {d}" for d in sorted(current.dates)
              if not _date_known(_canonical_date(d), known_dates) and not retold(d)]
    # Shown masked, as the matter's shared references are: enough to tell two apart, not to use one.
    found += [f"编号 {mask_reference(i)}" for i in sorted(current.identifiers - earlier.identifiers)]
    found += [f"事件 {e}" for e in sorted(current.events - earlier.events)]
    return found
