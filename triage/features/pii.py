"""Mask personal data (ID-card, mobile, bank-card numbers, e-mail) before anything is stored or logged.

Numbers are validated where a checksum exists (ID card: GB 11643 check digit; bank card: Luhn), so
an order number or an amount is not masked by accident, and a real card number always is.

People write the same number many ways: `138 1234 5678`, `138.1234.5678`, `1 3 8 1 2 3 4 5 6 7 8`,
full-width `１３８１２３４５６７８`, Chinese numerals `一三八一二三四五六七八` (幺 for 1, 〇/零 for 0),
`110105 19491231 002X`, `zhangsan(at)example.com`, `zhangsan＠example．com`. Matching runs on a folded
view of the text — each character replaced by its compatibility form (NFKC) when that is one character,
so positions stay those of the original — and the original characters of a match are replaced, so the
rest of the text keeps its spelling.

A number written in groups is masked only when its groups are a way that kind of number is written
(3-4-4 for a phone, 6-8-4 for an ID card, fours for a card, or one digit at a time) with one separator
throughout: "1380.00 2025.10.01" is eleven digits starting 13, but an amount and a date, not a phone.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

ID_CARD_MASK = "[身份证号]"
PHONE_MASK = "[手机号]"
BANK_CARD_MASK = "[银行卡号]"
EMAIL_MASK = "[邮箱]"
# Not a kind of personal data the model learns from: what `mask_identifier` puts for a run of 11+ digits
# that passed no checksum (somebody's number all the same, in an id or a log line).
NUMBER_MASK = "[号码]"

# --- the folded view ----------------------------------------------------------------------------------


class _Fold(dict[int, str]):
    """str.translate table: a character's NFKC form when that is a single character (full-width digits,
    letters, ＠ and ．, the ideographic space), else the character; filled as characters are met."""

    def __missing__(self, codepoint: int) -> str:
        char = chr(codepoint)
        folded = unicodedata.normalize("NFKC", char)
        value = folded if len(folded) == 1 else char
        self[codepoint] = value
        return value


_FOLD = _Fold()
# Chinese numerals as read out in a phone number; only runs of them that make a whole number are masked.
_CHINESE_DIGITS = str.maketrans("〇零幺一二两三四五六七八九", "0011223456789")
# Four numerals or digits in a row, one of them a numeral first: the cheap test before the second pass
_NUMERAL = "〇零幺一二两三四五六七八九"
_NUMERALS_RUN = re.compile(rf"[{_NUMERAL}](?:[^\S\n]{{0,3}}[-.·]?[^\S\n]{{0,3}}[{_NUMERAL}0-9０-９]){{3}}"
                           rf"|[0-9０-９][{_NUMERAL}]")


def _folded(text: str, chinese_numerals: bool) -> str:
    view = text if unicodedata.is_normalized("NFKC", text) else text.translate(_FOLD)
    return view.translate(_CHINESE_DIGITS) if chinese_numerals else view


# --- e-mail -------------------------------------------------------------------------------------------

_AT = r"(?:\s*@\s*|\s*[(\[{<【]\s*(?:at|艾特)\s*[)\]}>】]\s*|\s+at\s+)"
_DOT = r"(?:\s*\.\s*|\s*[(\[{<【]\s*(?:dot|点)\s*[)\]}>】]\s*|\s+dot\s+)"
# Possessive parts (nothing that follows them can start with a character they take) and a start only where a
# name part starts: a long run of letters with "at" in it was tried from every position, each try to its end
# (20,000 characters: ~30 s). An address glued to the end of the one before is looked for there (`_emails`).
_EMAIL_AT = re.compile(rf"[A-Za-z0-9._%+-]++{_AT}[A-Za-z0-9-]++(?:{_DOT}[A-Za-z0-9-]++)*{_DOT}[A-Za-z]{{2,}}"
                       r"(?![A-Za-z])", re.IGNORECASE)
_EMAIL = re.compile(rf"(?<![A-Za-z0-9._%+-]){_EMAIL_AT.pattern}", re.IGNORECASE)
_EMAIL_HINT = re.compile(r"@|at|艾特", re.IGNORECASE)  # a cheap test before the costly pattern

# --- numbers ------------------------------------------------------------------------------------------

# Between two groups of digits: a space or a dash, dot, middle dot or underscore (spaces around it allowed).
_SEPARATOR = r"(?:[^\S\n]{0,2}[-.·・_—–‐][^\S\n]{0,2}|[^\S\n]{1,3})"
_RUN = re.compile(rf"(?<![0-9])[0-9]+(?:{_SEPARATOR}[0-9]+)*")
_DIGIT_GROUP = re.compile(r"[0-9]+")

# How each kind is written, as group sizes (an ID card's trailing X counts in its last group). One digit
# at a time is allowed for all three.
_PHONE_GROUPS: set[tuple[int, ...]] = {(11,), (3, 4, 4), (3, 8), (7, 4)}
_ID_GROUPS: set[tuple[int, ...]] = {(18,), (6, 8, 4), (6, 4, 4, 4), (4, 4, 4, 4, 2), (3, 3, 4, 4, 4), (6, 12)}
_CARD_GROUPS: set[tuple[int, ...]] = ({(n,) for n in range(16, 20)} | {(4, 4, 4, n) for n in range(4, 8)}
                | {(4, 4, 4, 4, n) for n in range(1, 4)} | {(6, n) for n in range(10, 14)})

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


def _is_phone(digits: str) -> bool:
    return len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789"


def _written_as(sizes: tuple[int, ...], groupings: set[tuple[int, ...]]) -> bool:
    return sizes in groupings or (len(sizes) > 1 and set(sizes) == {1})


@dataclass(frozen=True)
class _Found:
    kind: str
    start: int
    end: int
    digits: str


def _numbers_in_run(view: str, run: re.Match[str]) -> list[_Found]:
    """The ID-card, bank-card and phone numbers of one run of digit groups, left to right."""
    groups = [(run.start() + g.start(), run.start() + g.end()) for g in _DIGIT_GROUP.finditer(run.group(0))]
    separators = [view[a_end:b_start].strip() or " " for (_, a_end), (b_start, _) in itertools.pairwise(groups)]
    found: list[_Found] = []
    i = 0
    while i < len(groups):
        match = _number_at(view, groups, separators, i)
        if match is None:
            i += 1
            continue
        found.append(match[0])
        i += match[1]
    return found


def _number_at(view: str, groups: list[tuple[int, int]], separators: list[str], i: int
               ) -> tuple[_Found, int] | None:
    """The longest number starting at group i, and how many groups it takes."""
    for count in range(min(len(groups) - i, 19), 0, -1):
        window = groups[i:i + count]
        sizes = tuple(b - a for a, b in window)
        if sum(sizes) > 19 or len(set(separators[i + 1:i + count - 1])) > 1:  # one separator throughout
            continue
        uniform = len(set(separators[i:i + count - 1])) <= 1  # "+86 138-1234-5678": the prefix may differ
        end = window[-1][1]
        digits = "".join(view[a:b] for a, b in window)
        if uniform:
            found = _card_or_id(view, window, sizes, digits)
            if found is not None:
                return found, count
        phone = _phone(view, window, sizes, digits, uniform)
        if phone is not None:
            return _Found("phone", phone, end, digits[-11:]), count
    return None


def _card_or_id(view: str, window: list[tuple[int, int]], sizes: tuple[int, ...], digits: str) -> _Found | None:
    start, end = window[0][0], window[-1][1]
    one_at_a_time = len(sizes) > 1 and set(sizes) == {1}
    # An ID card's check character X: right after the digits, or after the same separator (one at a time).
    x_at, sizes_x = None, sizes
    if end < len(view) and view[end] in "Xx":
        x_at, sizes_x = end, (*sizes[:-1], sizes[-1] + 1)
    elif one_at_a_time:
        separator = view[window[-2][1]:window[-1][0]]
        if view[end:end + len(separator)] == separator and view[end + len(separator):][:1] in ("X", "x"):
            x_at, sizes_x = end + len(separator), (*sizes, 1)
    if x_at is not None and _written_as(sizes_x, _ID_GROUPS) and is_valid_id_card(digits + view[x_at]):
        return _Found("id_card", start, x_at + 1, digits + "X")
    if _written_as(sizes, _ID_GROUPS) and is_valid_id_card(digits):
        return _Found("id_card", start, end, digits)
    if _written_as(sizes, _CARD_GROUPS) and 16 <= len(digits) <= 19 and is_luhn_valid(digits):
        return _Found("bank_card", start, end, digits)
    return None


def _phone(view: str, window: list[tuple[int, int]], sizes: tuple[int, ...], digits: str,
           uniform: bool) -> int | None:
    """Where a phone number of these groups starts (with its +86), or None."""
    start = window[0][0]
    if uniform and _is_phone(digits) and _written_as(sizes, _PHONE_GROUPS):
        return start
    if digits.startswith("86") and _is_phone(digits[2:]) and (
            (sizes == (13,)) or (sizes[0] == 2 and _written_as(sizes[1:], _PHONE_GROUPS))):
        return start - 1 if start > 0 and view[start - 1] == "+" else start
    return None


def _emails(view: str) -> list[re.Match[str]]:
    if not _EMAIL_HINT.search(view):
        return []
    found = []
    for first in _EMAIL.finditer(view):
        match: re.Match[str] | None = first
        while match is not None:  # a.b@x.com.c@y.com: the second starts where the first ended
            found.append(match)
            match = _EMAIL_AT.match(view, match.end())
    return found


def _spans(text: str, chinese_numerals: bool) -> list[_Found]:
    view = _folded(text, chinese_numerals)
    found = [_Found("email", m.start(), m.end(), m.group(0)) for m in _emails(view)]
    taken = [(f.start, f.end) for f in found]
    for run in _RUN.finditer(view):
        if len(run.group(0)) < 11 or sum(map(str.isdigit, run.group(0))) < 11:
            continue  # too few digits for any of them (most runs: dates, amounts)
        if any(a < run.end() and run.start() < b for a, b in taken):
            continue  # digits of an e-mail address
        found.extend(_numbers_in_run(view, run))
    return sorted(found, key=lambda f: f.start)


_MASKS = {"email": EMAIL_MASK, "id_card": ID_CARD_MASK, "bank_card": BANK_CARD_MASK, "phone": PHONE_MASK}


def _replace(text: str, found: list[_Found], found_kinds: Counter[str]) -> str:
    parts, at = [], 0
    for item in found:
        parts += [text[at:item.start], _MASKS[item.kind]]
        at = item.end
        found_kinds[item.kind] += 1
    return "".join(parts) + text[at:]


def mask_pii(text: str) -> tuple[str, Counter[str]]:
    """Return the text with personal data replaced by placeholders, and how many of each were found."""
    found: Counter[str] = Counter()
    # Digits first; then, on what is left, numbers read out in Chinese numerals (or mixing both).
    text = _replace(text, _spans(text, chinese_numerals=False), found)
    if _NUMERALS_RUN.search(text):
        text = _replace(text, _spans(text, chinese_numerals=True), found)
    return text, found


# 11+ digits in a row, or four groups of four or more (a card number that fails Luhn)
_LONG_DIGITS = re.compile(r"(?<![0-9])(?:[0-9]{11,}[0-9Xx]?|[0-9]{4}(?:[ .-][0-9]{4}){3,4})(?![0-9])")


def mask_identifier(value: str) -> str:
    """`mask_pii`, and any run of 11 or more digits too (an 18-digit number with a wrong check digit is still
    somebody's number): for ids and log lines, where no model reads the placeholder."""
    masked, _ = mask_pii(value)
    view = masked.translate(_FOLD)
    parts, at = [], 0
    for run in _LONG_DIGITS.finditer(view):
        parts += [masked[at:run.start()], NUMBER_MASK]
        at = run.end()
    return "".join(parts) + masked[at:]


def contains_pii(value: str) -> bool:
    """Whether `mask_identifier` would change the value."""
    return mask_identifier(value) != value


def canonical_number(value: str) -> str | None:
    """The digits (an ID card's X included) of a value that is one phone, ID-card or bank-card number and nothing
    else, however it is written (`138-1234-5678`, `一三八一二三四五六七八`, `+86 138 1234 5678` → `13812345678`);
    None for anything else. So that one customer's number is one key whichever way it was typed."""
    for chinese_numerals in (False, True):
        found = _spans(value, chinese_numerals)
        if (len(found) == 1 and found[0].kind != "email" and not value[:found[0].start].strip()
                and not value[found[0].end:].strip()):
            return found[0].digits
    return None


def bank_card_numbers(text: str) -> list[str]:
    """The bank-card numbers of a raw text (digits only), the ones `mask_pii` masks: a card identifies the
    account a complaint is about, so the repeat detector compares them — hashed, never stored or shown."""
    return [f.digits for f in _spans(text, chinese_numerals=False) if f.kind == "bank_card"]

