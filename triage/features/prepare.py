"""One place that turns raw complaint text into what the models, the store and the logs may see."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from triage.features.normalize import normalize_text
from triage.features.pii import mask_pii

MAX_TEXT_CHARS = 20_000
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LETTER = re.compile(r"[A-Za-z]")


class EmptyTextError(ValueError):
    """The complaint has no text to read."""


@dataclass(frozen=True)
class PreparedText:
    text: str  # normalised, PII-masked, truncated: safe to store, log and embed
    language: str  # "zh" or "other"
    truncated: bool
    original_chars: int
    pii_found: Counter[str] = field(default_factory=Counter)


def _cut(text: str, max_chars: int) -> str:
    """Cut to max_chars without leaving half a placeholder or the head of a digit run behind."""
    cut = text[:max_chars]
    if "[" in cut[-8:] and "]" not in cut[cut.rfind("["):]:
        cut = cut[: cut.rfind("[")]
    if max_chars < len(text) and text[max_chars].isdigit():
        cut = cut.rstrip("0123456789 -")
    return cut


def detect_language(text: str) -> str:
    """"zh" when Chinese characters make up a fair share of the letters, else "other".

    A complaint in English or pinyin still gets a prediction, but the models were trained on Chinese,
    so such text is flagged for review.
    """
    cjk = len(_CJK.findall(text))
    latin = len(_LETTER.findall(text))
    if cjk == 0:
        return "other"
    return "zh" if cjk >= 0.3 * (cjk + latin / 4) else "other"  # ~4 Latin letters per word ≈ 1 hanzi


def prepare_text(raw: str, max_chars: int = MAX_TEXT_CHARS) -> PreparedText:
    if raw is None or not str(raw).strip():
        raise EmptyTextError("complaint text is empty or whitespace only")
    normalized = normalize_text(str(raw))
    original_chars = len(normalized)
    truncated = original_chars > max_chars
    # Mask the whole text first: cutting first could leave 17 digits of an ID card (the 18th is only
    # a check digit) that no longer validate and so escape the mask.
    masked, found = mask_pii(normalized)
    if truncated:
        masked = _cut(masked, max_chars)
    return PreparedText(
        text=masked,
        language=detect_language(masked),
        truncated=truncated,
        original_chars=original_chars,
        pii_found=found,
    )
