"""Personal data in the ways people actually write it (spaces, dots, dashes, full-width digits, Chinese
numerals, obfuscated e-mail), and the numbers that only look like it (amounts, dates, times, contract
numbers), which must stay."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.features.pii import (
    BANK_CARD_MASK,
    EMAIL_MASK,
    ID_CARD_MASK,
    NUMBER_MASK,
    PHONE_MASK,
    bank_card_numbers,
    contains_pii,
    mask_identifier,
    mask_pii,
)
from triage.features.prepare import prepare_text

# GB 11643's own example (check character X) and a Luhn-valid test card: computed by hand, not by the code
ID_X = "11010519491231002X"
CARD = "4111111111111111"

SPELLINGS = [
    # (written, kind)
    ("13812345678", "phone"),
    ("1 3 8 1 2 3 4 5 6 7 8", "phone"),
    ("138.1234.5678", "phone"),
    ("138-1234-5678", "phone"),
    ("138 1234 5678", "phone"),
    ("138 12345678", "phone"),
    ("1381234 5678", "phone"),
    ("138－1234－5678", "phone"),  # full-width dashes
    ("１３８１２３４５６７８", "phone"),
    ("１３８ １２３４ ５６７８", "phone"),
    ("一三八一二三四五六七八", "phone"),
    ("幺三八幺二三四五六七八", "phone"),
    ("一三九〇〇〇〇一二三四", "phone"),
    ("一五九零零零零一二三四", "phone"),
    ("一三八 一二三四 五六七八", "phone"),
    ("1三8一2三4五6七8", "phone"),  # digits and numerals mixed
    ("+86 138 1234 5678", "phone"),
    ("+86-138.1234.5678", "phone"),
    ("8613812345678", "phone"),
    (CARD, "bank_card"),
    ("4111.1111.1111.1111", "bank_card"),
    ("4111 1111 1111 1111", "bank_card"),
    ("4111-1111-1111-1111", "bank_card"),
    ("４１１１ １１１１ １１１１ １１１１", "bank_card"),
    (" ".join(CARD), "bank_card"),
    (ID_X, "id_card"),
    (ID_X.lower(), "id_card"),
    ("110105 19491231 002X", "id_card"),
    ("110105-1949-1231-002X", "id_card"),
    ("1101 0519 4912 3100 2X", "id_card"),
    (" ".join(ID_X), "id_card"),
    ("１１０１０５１９４９１２３１００２Ｘ", "id_card"),
    ("zhangsan@example.com", "email"),
    ("zhangsan(at)example.com", "email"),
    ("zhangsan (at) example (dot) com", "email"),
    ("zhangsan [at] example [dot] com", "email"),
    ("zhangsan【at】example【dot】com", "email"),
    ("zhangsan＠example．com", "email"),
    ("ZhangSan AT example DOT com", "email"),
    ("zhangsan at example.com.cn", "email"),
]

MASK = {"phone": PHONE_MASK, "bank_card": BANK_CARD_MASK, "id_card": ID_CARD_MASK, "email": EMAIL_MASK}


def _digits(text: str) -> str:
    """Every digit of a text, full-width and Chinese numerals read as digits."""
    return re.sub(r"\D", "", text.translate(str.maketrans("０１２３４５６７８９〇零幺一二三四五六七八九",
                                                         "0123456789001123456789")))


@pytest.mark.parametrize(("written", "kind"), SPELLINGS)
@pytest.mark.parametrize(("before", "after"), [("我的号码是", "，请回电"), ("", ""), ("联系", "谢谢")])
def test_every_spelling_is_masked_as_its_kind(written, kind, before, after):
    masked, found = mask_pii(f"{before}{written}{after}")
    assert masked == f"{before}{MASK[kind]}{after}"
    assert found == {kind: 1}


@pytest.mark.parametrize(("written", "kind"), SPELLINGS)
def test_prepare_text_masks_every_spelling(written, kind):
    prepared = prepare_text(f"催收员用{written}联系我")
    assert prepared.text == f"催收员用{MASK[kind]}联系我"


def test_an_id_number_followed_by_letters_is_masked_whole():
    masked, _ = mask_pii(f"证件{ID_X}abc")
    assert masked == f"证件{ID_CARD_MASK}abc"


def test_a_spaced_id_number_keeps_neither_its_region_nor_its_check_digit():
    masked, _ = mask_pii("身份证110105 19491231 002X已泄露")
    assert masked == f"身份证{ID_CARD_MASK}已泄露"
    assert "110105" not in masked and "X" not in masked


NEAR_MISSES = [
    "借款10,000.00元，利息1,380.00元",
    "2025.10.01还款，2025-10-08又扣了一次，2025/10/09再扣",
    "2025.10.01-2025.12.31期间的账单",
    "2025.10.01 13:45:20收到短信",
    "10:30-11:45之间来电三次",
    "合同编号HT-2025-1001-0035，金额128000元",
    "合同号JK2025093000123",
    "借款合同编号：2025 1001 0035",
    "1380.00 2025.10.01",
    "扣款138.12元，13.5%的年化",
    "工单号1234567890",
    "客服热线95588，400-820-8888，010-12345678",
    "订单号20250930123456（14位）",
    "第一二三期都逾期了，一二三四五六七八九十",
    "我在一三年借的钱",
    "邮件@客服 回复说at once",
    "账户尾号1234，卡号后四位5678",
]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_amounts_dates_times_and_contract_numbers_are_left_alone(text):
    masked, found = mask_pii(text)
    assert masked == text
    assert not found


def test_a_phone_next_to_a_date_is_masked_and_the_date_kept():
    masked, found = mask_pii("13812345678 20250930来电；2025.10.01 138.1234.5678")
    assert masked == f"{PHONE_MASK} 20250930来电；2025.10.01 {PHONE_MASK}"
    assert found == {"phone": 2}


def test_masking_keeps_the_spelling_of_the_rest_of_the_text():
    masked, _ = mask_pii("全角ＡＢＣ，１３８１２３４５６７８！")
    assert masked == f"全角ＡＢＣ，{PHONE_MASK}！"


def test_masking_is_idempotent_on_every_spelling():
    text = "；".join(written for written, _ in SPELLINGS)
    once, _ = mask_pii(text)
    assert mask_pii(once) == (once, {})
    assert not re.search(r"[0-9０-９]", once)


def test_bank_card_numbers_reads_spaced_cards_as_digits():
    assert bank_card_numbers("卡号4111.1111.1111.1111和4111 1111 1111 1111") == [CARD, CARD]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("CUST-00123", "CUST-00123"),
        ("13812345678", PHONE_MASK),
        ("一三八一二三四五六七八", PHONE_MASK),
        ("110105194912310027", NUMBER_MASK),  # a wrong check digit: still somebody's number
        ("WX_13812345678", f"WX_{PHONE_MASK}"),
    ],
)
def test_mask_identifier_masks_any_long_number(value, expected):
    assert mask_identifier(value) == expected
    assert contains_pii(value) == (expected != value)


# --- a property: any phone number, any spelling ------------------------------------------------------

NUMERALS = dict(zip("0123456789", "零一二三四五六七八九", strict=True))


@st.composite
def spelled_phones(draw):
    digits = "1" + draw(st.sampled_from("3456789")) + draw(st.text(alphabet="0123456789", min_size=9, max_size=9))
    style = draw(st.sampled_from(["344", "one", "fullwidth", "chinese"]))
    separator = draw(st.sampled_from([" ", ".", "-", "·", " - "]))
    if style == "344":
        return digits, separator.join([digits[:3], digits[3:7], digits[7:]])
    if style == "one":
        return digits, separator.join(digits)
    if style == "fullwidth":
        return digits, digits.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    return digits, "".join(NUMERALS[d] for d in digits)


chinese = st.text(alphabet=st.sampled_from(list("我的电话是，。请回打过来催收员昨天今天！")), max_size=12)


@settings(max_examples=200, deadline=None)
@given(before=chinese, phone=spelled_phones(), after=chinese)
def test_no_phone_survives_in_any_spelling(before, phone, after):
    digits, written = phone
    masked, found = mask_pii(before + written + after)
    assert found == {"phone": 1}
    assert masked == before + PHONE_MASK + after
    assert digits not in _digits(masked)


def test_a_long_run_of_letters_with_at_in_it_is_read_in_linear_time():
    # each start of an e-mail used to be tried from every letter to the run's end: 20,000 letters took ~30 s
    import time

    text = "a" * 10_000 + " at " + "b" * 10_000
    started = time.process_time()
    masked, found = mask_pii(text)
    assert time.process_time() - started < 1.0
    assert masked == text and not found


def test_an_address_glued_to_the_end_of_another_is_masked_too():
    assert mask_pii("a@b.com.c@d.com")[0] == "[邮箱][邮箱]"
