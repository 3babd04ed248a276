"""Signals read from the complaint text, each with the evidence that fired it.

Lexicons are regular expressions over the normalised, masked text. A match is dropped when its clause
negates it ("没有被盗", "并未泄露") or asks about it ("会不会泄露？", "是不是被盗刷了吗"): a customer
asking whether their data could leak is not reporting a leak. Distress is the exception to the
question rule: "我是不是只能去死了" is still a person in danger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cn2an

LEXICONS: dict[str, str] = {
    "fund_loss": (
        r"被盗刷|盗刷|被盗|盗取|盗用|被骗|诈骗|骗走|骗了|转走|划走|不翼而飞|莫名其妙.{0,4}(扣|少|转)|"
        r"未经.{0,6}(授权|同意).{0,8}(扣|转|支付|交易|消费)|资金损失|钱没了|冒名|冒用|被人(取|转|刷|盗)|"
        r"被取走|异地取现|克隆"
    ),
    "data_leak": (
        r"泄露|泄漏|外泄|倒卖|出卖.{0,4}信息|信息被(卖|盗|泄|贩卖)|"
        r"知道我的(身份证|贷款|借款|住址|欠款|卡号|额度|还款)|(个人)?信息.{0,4}被.{0,4}(拿|卖|盗)"
    ),
    "external_escalation": (
        r"金融监管总局|国家金融监督管理总局|银保监会?|银监会|证监会|12378|12363|人民银行|人行|监管部门|"
        r"消协|消费者协会|12315|市场监管|报警|报案|公安|派出所|起诉|诉讼|法院|律师|仲裁|曝光|媒体|记者|黑猫投诉"
    ),
    "distress": r"活不下去|不想活|想不开|跳楼|自杀|轻生|寻死|去死|了结(自己|生命)|绝路|割腕|喝药|同归于尽|没法活",
    "collection_misconduct": (
        r"爆通讯录|通讯录|(骚扰|打给|打电话给|联系|找到|通知|群发).{0,4}(我的)?(家人|家里|父母|爸妈|老婆|老公|"
        r"孩子|亲戚|朋友|同事|单位|领导|公司|老板)|威胁|恐吓|辱骂|骂我|侮辱|上门|P图|暴力催收|软暴力|冒充(律师|法院|公安)"
    ),
    "many_affected": (
        r"很多人|好多人|大面积|都遇到|不止我一个|不只我一个|大家都|集体|几十个人|上百人|维权群|一起(去)?(投诉|维权)|"
        r"身边.{0,4}(朋友|同事).{0,4}都|群里.{0,6}(都|好多)"
    ),
}
_COMPILED = {kind: re.compile(pattern, re.IGNORECASE) for kind, pattern in LEXICONS.items()}

_CLAUSE_END = re.compile(r"[,，。.!！?？;；\n]")
_NEGATION = re.compile(r"(没有|没|未|(?<!是)不是|并非|无|(?<!会)不会|别)[^,，。！？!?；;]{0,3}$")
_QUESTION = re.compile(r"(会不会|是不是|有没有|能不能|可不可以|是否|怎么办)|[?？吗]\s*$")

# Money: Arabic digits with an optional 万/千/w/k, or Chinese numerals; a currency word or 万/千 must follow,
# so dates, counts and ids are not read as money.
_AMOUNT = re.compile(
    r"(?P<num>\d+(?:[,，]\d{3})*(?:\.\d+)?|[零一二两三四五六七八九十百千万亿点]+)\s*"
    r"(?P<unit>万|w|W|千|k|K)?\s*(?P<approx>多|余|来)?\s*(?P<cur>元|块|rmb|RMB|人民币)?"
)


@dataclass(frozen=True)
class Signal:
    kind: str
    evidence: str
    start: int
    end: int
    value: float | None = None  # the amount in 元, for "amount"


def _clause(text: str, start: int, end: int) -> tuple[str, str]:
    """The clause around a match: what precedes it, and the clause from the match to its end."""
    before = text[:start]
    clause_start = max((m.end() for m in _CLAUSE_END.finditer(before)), default=0)
    following = _CLAUSE_END.search(text, end)
    clause_end = following.end() if following else len(text)
    return text[clause_start:start], text[clause_start:clause_end]


def _dismissed(kind: str, text: str, start: int, end: int) -> bool:
    preceding, clause = _clause(text, start, end)
    if _NEGATION.search(preceding):
        return True
    return kind != "distress" and bool(_QUESTION.search(clause))


def _to_number(token: str) -> float | None:
    token = token.replace(",", "").replace("，", "")
    try:
        return float(token)
    except ValueError:
        pass
    try:
        return float(cn2an.cn2an(token, "smart"))
    except (ValueError, KeyError, TypeError):
        return None


def find_amounts(text: str) -> list[Signal]:
    found = []
    for match in _AMOUNT.finditer(text):
        unit, currency = match.group("unit"), match.group("cur")
        number = match.group("num")
        chinese = not number[0].isdigit()
        if chinese and number[0] in "千万亿百点":
            continue  # "千万别…", "万一…": words, not numbers
        if not (unit or currency or (chinese and any(c in number for c in "万千"))):
            continue
        value = _to_number(number)
        if value is None or value <= 0:
            continue
        value *= {"万": 10_000, "w": 10_000, "W": 10_000, "千": 1_000, "k": 1_000, "K": 1_000}.get(unit or "", 1)
        found.append(Signal("amount", match.group(0).strip(), match.start(), match.end(), value))
    return found


def read_signals(text: str) -> list[Signal]:
    """Every signal in the text, in order of appearance."""
    found = find_amounts(text)
    for kind, pattern in _COMPILED.items():
        for match in pattern.finditer(text):
            if not _dismissed(kind, text, match.start(), match.end()):
                found.append(Signal(kind, match.group(0), match.start(), match.end()))
    return sorted(found, key=lambda s: (s.start, s.kind))


def largest_amount(signals: list[Signal]) -> float | None:
    amounts = [s.value for s in signals if s.kind == "amount" and s.value is not None]
    return max(amounts) if amounts else None
