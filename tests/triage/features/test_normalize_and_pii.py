"""Normalisation and PII masking: what may be stored and logged must never hold a customer's numbers."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triage.features.normalize import normalize_text
from triage.features.pii import (
    BANK_CARD_MASK,
    EMAIL_MASK,
    ID_CARD_MASK,
    PHONE_MASK,
    is_luhn_valid,
    is_valid_id_card,
    mask_pii,
)
from triage.features.prepare import prepare_text

# --- helpers: numbers computed here, independently of triage.features.pii ---------------------------

ID_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]  # GB 11643: W_i = 2^(i-1) mod 11, counted from the right
ID_CHECK_CHARS = "10X98765432"


def id_check_digit(first17: str) -> str:
    assert len(first17) == 17 and first17.isdigit()
    return ID_CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def make_id(region: str, birth: str, seq: str) -> str:
    first17 = region + birth + seq
    return first17 + id_check_digit(first17)


def luhn_check_digit(payload: str) -> str:
    """Digit that makes payload + digit pass the Luhn test."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def make_card(payload: str) -> str:
    return payload + luhn_check_digit(payload)


def wrong_luhn(payload: str) -> str:
    return payload + str((int(luhn_check_digit(payload)) + 1) % 10)


def _first_id_with_check(check: str) -> str:
    for seq in range(1000):
        first17 = f"110105194912{31:02d}{seq:03d}"
        if id_check_digit(first17) == check:
            return first17 + check
    raise AssertionError("no sequence number gives that check digit")


def test_helpers_agree_with_published_examples():
    # Examples from the GB 11643-1999 standard and the common Luhn test number.
    assert id_check_digit("11010519491231002") == "X"
    assert id_check_digit("44052418800101001") == "4"
    assert make_card("7992739871") == "79927398713"
    assert make_card("411111111111111") == "4111111111111111"


# --- normalisation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("１２３ＡＢＣ！", "123ABC!"),
        ("ｃｒｅｄｉｔ　ｃａｒｄ（信用卡）", "credit card(信用卡)"),
        ("扣了￥５０元", "扣了¥50元"),
        ("你好、我要投诉。「急」", "你好、我要投诉。「急」"),  # CJK punctuation proper is no full-width form
    ],
)
def test_full_width_becomes_half_width(raw, expected):
    assert normalize_text(raw) == expected


def test_whitespace_runs_become_one_space_and_ends_are_stripped():
    assert normalize_text("  客户来电\t\t反映\n\n\n还款\u3000\u3000失败 \r\n ") == "客户来电 反映 还款 失败"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("还钱！！！！！", "还钱!!"),  # full-width first becomes "!!!!!", then the run is cut to two
        ("怎么回事？？？", "怎么回事??"),
        ("我等了很久。。。。。。", "我等了很久。。"),
        ("还有、、、", "还有、、"),
        ("what???", "what??"),
        ("算了~~~~", "算了~~"),
    ],
)
def test_long_punctuation_runs_keep_two(raw, expected):
    assert normalize_text(raw) == expected


def test_long_runs_of_full_width_commas_are_cut_to_two():
    # NFKC turns "，" (U+FF0C, a full-width form) into ","; either way only two may remain.
    assert normalize_text("唉，，，，好吧") in {"唉,,好吧", "唉，，好吧"}


@pytest.mark.parametrize("text", ["太过分了!!", "真的吗??", "好。", "!?!?!?", "啊啊啊啊", "8888元"])
def test_short_runs_mixed_marks_and_repeated_characters_are_kept(text):
    assert normalize_text(text) == text


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalize_text_is_idempotent(text):
    once = normalize_text(text)
    assert normalize_text(once) == once


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("！？。，!?.,~、 　\t\n啊投诉ＡＢ１２"))))
def test_normalized_text_has_no_long_runs_or_double_spaces(text):
    out = normalize_text(text)
    assert "  " not in out
    assert out == out.strip()
    assert not re.search(r"([!?。，,.~…！？、])\1{2}", out)


# --- PII: ID card numbers ----------------------------------------------------------------------------

VALID_IDS = [
    make_id("110105", "19491231", "002"),  # the standard's example, check digit X
    make_id("440524", "18800101", "001"),
    make_id("310101", "19850615", "123"),
    make_id("510104", "20010228", "457"),
    _first_id_with_check("X"),
]


def test_generated_ids_cover_an_x_check_digit_and_are_accepted():
    assert any(number.endswith("X") for number in VALID_IDS)
    assert all(is_valid_id_card(number) for number in VALID_IDS)
    assert is_valid_id_card(VALID_IDS[0].lower())  # a lower-case x is still an ID


@pytest.mark.parametrize("number", VALID_IDS)
def test_valid_id_numbers_are_masked(number):
    masked, found = mask_pii(f"我的身份证号是{number}，请核实")
    assert masked == f"我的身份证号是{ID_CARD_MASK}，请核实"
    assert found == {"id_card": 1}
    assert number not in masked


def test_lower_case_x_id_is_masked():
    number = VALID_IDS[0].lower()
    assert number.endswith("x")
    masked, found = mask_pii(f"身份证{number}")
    assert masked == f"身份证{ID_CARD_MASK}"
    assert found["id_card"] == 1


@pytest.mark.parametrize("number", VALID_IDS)
def test_id_with_wrong_check_digit_is_not_masked_as_id(number):
    right = number[17]
    wrong = next(c for c in "0123456789X" if c != right)
    bad = number[:17] + wrong
    assert not is_valid_id_card(bad)
    masked, found = mask_pii(f"证件号{bad}")
    assert "id_card" not in found
    assert ID_CARD_MASK not in masked


# --- PII: mobile numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    ["13812345678", "19987654321", "138 1234 5678", "138-1234-5678", "+8613812345678", "+86 138 1234 5678",
     "+86-15900001111", "86 17712345678"],
)
def test_mobile_numbers_are_masked(phone):
    masked, found = mask_pii(f"催收员用{phone}天天打我电话")
    assert masked == f"催收员用{PHONE_MASK}天天打我电话"
    assert found == {"phone": 1}
    assert not re.search(r"[0-9]", masked)


def test_several_phone_numbers_are_all_counted():
    masked, found = mask_pii("先是13812345678，后来又换成15987654321，还有+86 186 0000 1111")
    assert masked.count(PHONE_MASK) == 3
    assert found["phone"] == 3
    assert not re.search(r"[0-9]", masked)


@pytest.mark.parametrize("text", ["客服热线95588打不通", "工单号1234567890", "10086短信", "12345678901234"])
def test_numbers_that_are_not_mobiles_are_left_alone(text):
    masked, found = mask_pii(text)
    assert masked == text
    assert not found


# --- PII: bank cards -------------------------------------------------------------------------------

VALID_CARDS = [
    make_card("622202123456789"),  # 16
    make_card("6217001234567890"),  # 17
    make_card("62284801234567891"),  # 18
    make_card("621700123456789012"),  # 19
    make_card("453201511283036"),  # 16, Visa-like
]


def test_generated_cards_pass_luhn_and_have_16_to_19_digits():
    for card in VALID_CARDS:
        assert is_luhn_valid(card)
        assert 16 <= len(card) <= 19
        assert not is_valid_id_card(card)  # so they must be found as bank cards, not IDs


@pytest.mark.parametrize("card", VALID_CARDS)
def test_luhn_valid_cards_are_masked(card):
    masked, found = mask_pii(f"我的卡号{card}被盗刷了两万")
    assert masked == f"我的卡号{BANK_CARD_MASK}被盗刷了两万"
    assert found == {"bank_card": 1}
    assert card not in masked


@pytest.mark.parametrize("card", VALID_CARDS[:2])
def test_cards_written_in_groups_are_masked(card):
    grouped = " ".join(card[i: i + 4] for i in range(0, len(card), 4))
    dashed = "-".join(card[i: i + 4] for i in range(0, len(card), 4))
    for written in (grouped, dashed):
        masked, found = mask_pii(f"卡号：{written}，请冻结")
        assert masked == f"卡号：{BANK_CARD_MASK}，请冻结"
        assert found["bank_card"] == 1


def test_luhn_invalid_16_digit_order_number_is_not_masked():
    order = wrong_luhn("202509301234567")
    assert len(order) == 16 and not is_luhn_valid(order)
    text = f"订单号{order}的退款还没到账"
    masked, found = mask_pii(text)
    assert masked == text
    assert not found


def test_number_runs_too_long_for_a_card_are_left_alone():
    twenty = make_card("6222021234567890123")  # 20 digits, Luhn-valid, still no card
    masked, found = mask_pii(f"流水号{twenty}")
    assert masked == f"流水号{twenty}"
    assert not found


# --- PII: e-mail, and things that must stay -------------------------------------------------------


@pytest.mark.parametrize("email", ["zhang.san@example.com", "li_si+bank@mail.qq.com", "WANG99@163.COM"])
def test_email_is_masked(email):
    masked, found = mask_pii(f"回复请发到{email}谢谢")
    assert masked == f"回复请发到{EMAIL_MASK}谢谢"
    assert found == {"email": 1}


@pytest.mark.parametrize(
    "text",
    [
        "借了50000元，年化利率24%",
        "20250930那天扣了我3,000元",
        "2025-09-30还款，2025年10月8日又扣了一次",
        "合同编号HT2025093000012，金额128000元",
        "手续费1200.50元",
    ],
)
def test_amounts_dates_and_contract_numbers_are_left_alone(text):
    masked, found = mask_pii(text)
    assert masked == text
    assert not found


def test_mixed_text_masks_everything_and_keeps_the_rest():
    id_number, card, phone = VALID_IDS[1], VALID_CARDS[0], "13912345678"
    text = f"本人身份证{id_number}，卡号{card}，手机{phone}，邮箱a.b@c.com，被扣50000元，20250930发生"
    masked, found = mask_pii(text)
    assert found == {"id_card": 1, "bank_card": 1, "phone": 1, "email": 1}
    for original in (id_number, card, phone, "a.b@c.com"):
        assert original not in masked
    assert "50000元" in masked and "20250930" in masked


def test_prepare_text_masks_full_width_numbers():
    phone_fw = "１３８１２３４５６７８"
    prepared = prepare_text(f"我的电话是{phone_fw}请回电")
    assert prepared.text == f"我的电话是{PHONE_MASK}请回电"
    assert prepared.pii_found["phone"] == 1


# --- properties: random valid numbers in random Chinese text ---------------------------------------

chinese = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
        st.sampled_from(list("，。！？：；、 （）“”")),
    ),
    max_size=30,
)


@st.composite
def valid_ids(draw):
    region = draw(st.integers(110000, 659999))
    year = draw(st.integers(1930, 2007))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, 28))
    seq = draw(st.integers(0, 999))
    number = make_id(f"{region:06d}", f"{year:04d}{month:02d}{day:02d}", f"{seq:03d}")
    return draw(st.sampled_from([number, number.lower()]))


@st.composite
def valid_cards(draw):
    length = draw(st.integers(16, 19))
    first = draw(st.sampled_from("3456"))
    rest = draw(st.text(alphabet="0123456789", min_size=length - 2, max_size=length - 2))
    card = make_card(first + rest)
    separator = draw(st.sampled_from(["", " ", "-"]))
    return separator.join(card[i: i + 4] for i in range(0, len(card), 4))


@st.composite
def valid_phones(draw):
    digits = "1" + draw(st.sampled_from("3456789")) + draw(
        st.text(alphabet="0123456789", min_size=9, max_size=9)
    )
    style = draw(st.sampled_from(["plain", "spaced", "dashed", "+86", "+86 ", "+86 spaced"]))
    spaced = f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    return {
        "plain": digits,
        "spaced": spaced,
        "dashed": spaced.replace(" ", "-"),
        "+86": "+86" + digits,
        "+86 ": "+86 " + digits,
        "+86 spaced": "+86 " + spaced,
    }[style]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=chinese, number=st.one_of(valid_ids(), valid_cards(), valid_phones()), after=chinese)
def test_no_valid_number_survives_masking(before, number, after):
    masked, found = mask_pii(before + number + after)
    assert sum(found.values()) == 1
    assert not re.search(r"[0-9]", masked), masked
    assert re.sub(r"\D", "", number) not in re.sub(r"\D", "", masked)


@settings(max_examples=100, deadline=None)
@given(
    before=chinese, middle=chinese, after=chinese, phone=valid_phones(), card=valid_cards(), id_=valid_ids()
)
def test_no_valid_number_survives_prepare_text(before, middle, after, phone, card, id_):
    raw = f"{before}{id_}，{middle}{phone}，{card}{after}"  # "，" keeps the numbers apart
    prepared = prepare_text(raw)
    assert not re.search(r"[0-9]", prepared.text), prepared.text
    assert sum(prepared.pii_found.values()) == 3


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="0123456789", min_size=15, max_size=18))
def test_luhn_invalid_numbers_are_not_masked_as_cards(payload):
    number = wrong_luhn(payload)
    _, found = mask_pii(f"编号{number}")
    assert "bank_card" not in found


def test_is_luhn_valid_matches_helper_on_random_numbers():
    rng = random.Random(7)
    for _ in range(200):
        payload = "".join(rng.choice("0123456789") for _ in range(rng.randint(12, 18)))
        assert is_luhn_valid(make_card(payload))
        assert not is_luhn_valid(wrong_luhn(payload))
