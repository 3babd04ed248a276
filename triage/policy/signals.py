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

_ESSENTIAL = (r"救命钱|救命的钱|手术费|做手术的钱|医药费|医疗费|住院费|看病(的)?钱|治病(的)?钱|药费|生活费|房租|学费|"
              r"口粮钱|唯一.{0,4}(收入|生活来源|经济来源)|(全部|所有)(的)?工资|养老钱|低保(金|钱)")
_TAKEN = (r"扣(走|光|完|掉|了)|全部扣|划扣|划走|强制(扣|划)|秒扣|冻结|转走|取走|被盗|盗刷|被骗|骗走|不翼而飞|"
          r"消失|没了")

LEXICONS: dict[str, str] = {
    "fund_loss": (
        r"被盗刷|盗刷|被盗|盗取|盗用|被骗|诈骗|骗走|骗了|转走|划走|不翼而飞|莫名其妙.{0,4}(扣|少|转)|"
        r"未经.{0,6}(授权|同意).{0,8}(扣|转|支付|交易|消费)|资金损失|钱没了|冒名|冒用|被人(取|转|刷|盗)|"
        r"被取走|异地取现|克隆|不明(扣款|扣费|交易|消费|转账|支出)|"
        # card swiped away, and the advance-fee loan scam: "pay to unfreeze / a deposit / to activate"
        r"被刷|刷走|盗走|扣光|扣完|全部扣|一夜之间.{0,6}(没了|消失)|骗贷|\d+笔.{0,3}(划扣|扣款|盗刷|消费|转账)|"
        r"(交|缴|缴纳|打|转|付|需要).{0,8}(解冻|保证金|激活费|流水|验证金)|(解冻|激活)(费|金|资金)"
    ),
    # Money a person cannot do without (medical, rent, school fees, living money) that was deducted, frozen,
    # stolen or lost: both halves within one sentence, close together.
    "essential_funds": (
        rf"({_ESSENTIAL})[^。？?\n]{{0,20}}({_TAKEN})|({_TAKEN})[^。？?\n]{{0,20}}({_ESSENTIAL})"
    ),
    # A loan or credit entry the customer says they never took (negation is the point here).
    "unknown_credit": (
        r"(从未|从来没有?|未曾|并未|并没有?|本人没有?|我没有?|根本没有?)(在|向|跟|与|于)?[^,，。!！?？]{0,12}(借过|贷过)|"
        r"(从未|从来没有?|未曾|并未|并没有?|本人没有?|本人未|我没有?|根本没有?)(申请|办理)过?[^,，。!！?？]{0,6}(贷款|借款)|"
        r"不知情的情况下[^,，。!！?？]{0,10}(贷款|借款|放款)|非本人(贷款|借款|申请|操作的贷款)|"
        r"冒用.{0,6}(身份|名义)|以我的名义[^,，。!！?？]{0,8}(贷|借)|盗用.{0,4}身份|"
        r"用我的身份(证|信息)?[^,，。!！?？]{0,6}(贷|借|办)"
    ),
    # The advance-fee loan scam: the "loan" never comes, the fees paid to get it are the loss.
    "advance_fee_scam": (
        r"(解冻|保证金|激活费|流水|验证金|协议费|包装费|认证费)[^。]{0,30}(下款|放款|提现|到账)|"
        r"(下款|放款|提现|到账)[^。]{0,30}(解冻费|保证金|激活费|做流水|刷流水|协议费|包装费|认证费)|"
        r"(账户|银行卡|卡)[^。，,]{0,4}(被)?冻结[^。]{0,12}(打钱|交钱|转钱|再打|再转|缴纳)|"
        r"(返还|转|打)[^。，,]{0,12}过账[^。]{0,8}(放|下)[^。，,]{0,4}款"
    ),
    # Threats to someone's safety, violence.
    "threat_violence": (
        r"(干|弄|砍|打|整)死(你|我|他|她|你们)|杀了(你|我|他|她)|(砍|捅)(你|我|他|她)|打断.{0,2}腿|泼(油漆|粪)|"
        r"踢门|砸门|砸(了|坏)(我|家)|动手打|打了我(一顿|几下|一拳|一巴掌|耳光)|打伤|殴打|人身安全|(找人|上门)[^,，。]{0,6}(收拾|弄死|砍)|"
        r"(家人|母亲|妈妈|父母|孩子|老婆|女儿|儿子)[^,，。]{0,8}(不客气|动手|下手|付出代价)"
    ),
    "data_leak": (
        r"泄露|泄漏|外泄|倒卖|出卖.{0,4}信息|信息被(卖|盗|泄|贩卖)|"
        r"知道我的(身份证|贷款|借款|住址|欠款|卡号|额度|还款)|(个人)?信息.{0,4}被.{0,4}(拿|卖|盗)"
    ),
    "external_escalation": (
        r"金融监管总局|国家金融监督管理总局|银保监会?|银监会|证监会|12378|12363|人民银行|央行|(?<=[向到去找给告])人行|监管部门|"
        r"消协|消费者协会|12315|市场监管|报警|报案|公安|派出所|起诉|诉讼|法院|律师|仲裁|曝光|媒体|记者|黑猫投诉"
    ),
    "distress": (
        r"活不下去|不想活|想不开|跳楼|坠楼|跳河|自杀|轻生|寻死|去死|想死|死了算了|一死了之|生不如死|"
        r"了结(自己|生命)|结束(自己的)?生命|绝路|割腕|喝药|吃药.{0,3}(死|了断)|同归于尽|没法活|遗书|"
        r"出人命|失去.{0,4}(活下去|生活)的(勇气|希望)|对生活.{0,4}(绝望|失去)|"
        # said without the word "死": life has no point, at the edge, "if something happens to me, who answers"
        r"活着(没|没有)(啥|什么)?(意义|意思)|活得太累|活的太累|崩溃的边缘|"
        r"(出(了)?(什么)?(意外|事)|有个三长两短)[^。！？!?]{0,4}谁(来)?负责"
    ),
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
# A negation right before the match ("没有被盗", "并未泄露", "不是被骗"), not words that merely start with
# a negating character ("没想到我被骗了", "无故被转走", "别再骚扰我同事" — all real reports).
_NEGATION = re.compile(
    r"(没有|没(?!想到)|并未|从未|从没|未曾|(?<!是)不是|并非|并无|(?<!会)不会)[^,，。！？!?；;]{0,2}$"
)
# Asking whether it happened ("会不会泄露", "是不是被盗了吗", "信息会泄露吗？") — not every question:
# "为什么我的卡被盗刷了？" and "被盗刷了5万元怎么办" report a theft.
_DOUBT_BEFORE = re.compile(r"(\w)不\1|有没有|是否|会否")  # A不A: 会不会, 是不是, 需不需要, 要不要
_DOUBT_AFTER = re.compile(r"吗\s*[?？]?\s*$|[吗么]")

# Money: Arabic digits with an optional 万/千/w/k, or Chinese numerals; a currency word or 万/千 must follow,
# so dates, counts and ids are not read as money.
_AMOUNT = re.compile(
    # One numeral token, mixed forms included ("5万", "1万2千", "一万二", "八千五百", "3,000", "3862.17"),
    # read whole by cn2an; then an optional w/k unit, "多/余/来" (approximately) and a currency word.
    r"(?P<num>(?:\d+(?:[,，]\d{3})*(?:\.\d+)?|[零一二两三四五六七八九十])(?:\d+(?:\.\d+)?|[零一二两三四五六七八九十百千万亿])*)"
    r"\s*(?P<unit>w|W|k|K)?\s*(?P<approx>多|余|来)?\s*(?P<cur>元|块|rmb|RMB|人民币)?"
)
# Money also when the number follows a currency sign or a money word ("¥5000", "金额11300", "扣款32488.14"),
# or is followed by what a scammer charges for ("12000保证金", "8000的解冻费").
_MONEY_BEFORE = re.compile(
    r"(¥|￥|金额|扣款|扣费|扣了|转账|转了|付款|支付了?|交了|缴纳了?|打了|充值|损失|刷了|被刷|盗刷了?)\s*$")
_MONEY_AFTER = re.compile(r"\s*(的)?(解冻|保证金|手续费|服务费|协议费|激活费|包装费|会员费|押金|费用|块钱)")
# A number followed by one of these counts people or things, not money ("2万人", "三千多条").
_COUNTED = re.compile(r"\s*(人|个|位|户|家|条|次|笔|张|份|天|日|月|年|号|期|岁|倍|%|楼|名|单|件|分钟|小时)")


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


# Kinds whose pattern carries its own negation ("从未贷过款" is the report itself).
_NEGATION_IS_THE_SIGNAL = {"unknown_credit"}


def _dismissed(kind: str, text: str, start: int, end: int) -> bool:
    preceding, clause = _clause(text, start, end)
    if kind in _NEGATION_IS_THE_SIGNAL:
        return bool(_DOUBT_BEFORE.search(preceding))
    if _NEGATION.search(preceding):
        return True
    if kind == "distress":  # "我是不是只能去死了？" is a person in danger, whatever the grammar
        return False
    after = clause[len(preceding) + (end - start):]
    return bool(_DOUBT_BEFORE.search(preceding)) or bool(_DOUBT_AFTER.match(after.strip(" 了呢啊呀的")))


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
        # Money needs a currency word or a magnitude (万/千, w/k): "2025年", "3次", "第2期" are not money.
        money_word = bool(_MONEY_BEFORE.search(text, max(0, match.start() - 4), match.start())
                          or _MONEY_AFTER.match(text, match.end()))
        if not (unit or currency or money_word or any(c in number for c in "万千亿")):
            continue
        value = _to_number(number)
        if value is None or value <= 0:
            continue
        if not currency and _COUNTED.match(text, match.end()):
            continue
        value *= {"w": 10_000, "W": 10_000, "k": 1_000, "K": 1_000}.get(unit or "", 1)
        evidence = match.group(0).rstrip()
        found.append(Signal("amount", evidence, match.start(), match.start() + len(evidence), value))
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
