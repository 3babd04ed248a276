"""Mask personal data (ID-card, mobile, bank-card numbers, e-mail) before anything is stored or logged.

Numbers are validated where a checksum exists (ID card: GB 11643 check digit; bank card: Luhn), so
an order number or an amount is not masked by accident, and a real card number always is.
"""

from __future__ import annotations

import re
from collections import Counter

ID_CARD_MASK = "[身份证号]"
PHONE_MASK = "[手机号]"
BANK_CARD_MASK = "[银行卡号]"
EMAIL_MASK = "[邮箱]"

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Digit runs not glued to other digits. Card numbers are written whole or in groups of four
# ("6222 0212 3456 7890 123"); allowing a separator anywhere would swallow "13812345678 20250930".
_ID_CARD = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")
_CARD = re.compile(r"(?<![0-9])(?:[0-9]{16,19}|[0-9]{4}(?:[ -][0-9]{4}){3}(?:[ -]?[0-9]{1,3})?)(?![0-9])")
_PHONE = re.compile(r"(?<![0-9])(?:\+?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]){8}(?![0-9])")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def is_valid_id_card(number: str) -> bool:
    """GB 11643-1999 check digit of an 18-character resident ID number."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def is_luhn_valid(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()]
    checksum = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        checksum += digit
    return checksum % 10 == 0


def mask_pii(text: str) -> tuple[str, Counter[str]]:
    """Return the text with personal data replaced by placeholders, and how many of each were found."""
    found: Counter[str] = Counter()

    def replace(kind: str, mask: str, valid=lambda s: True):
        def _sub(match: re.Match[str]) -> str:
            if valid(match.group(0)):
                found[kind] += 1
                return mask
            return match.group(0)

        return _sub

    text = _EMAIL.sub(replace("email", EMAIL_MASK), text)
    text = _ID_CARD.sub(replace("id_card", ID_CARD_MASK, is_valid_id_card), text)
    text = _CARD.sub(replace("bank_card", BANK_CARD_MASK, is_luhn_valid), text)
    text = _PHONE.sub(replace("phone", PHONE_MASK), text)
    return text, found


def bank_card_numbers(text: str) -> list[str]:
    """The bank-card numbers of a raw text (digits only), the ones `mask_pii` masks: a card identifies the
    account a complaint is about, so the repeat detector compares them — hashed, never stored or shown."""
    return [re.sub(r"\D", "", m.group(0)) for m in _CARD.finditer(text) if is_luhn_valid(m.group(0))]
