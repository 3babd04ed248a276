"""Normalise complaint text so that the same words always look the same to the models."""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")
# Three or more of the same punctuation mark ("！！！！", "。。。。", "???") carry anger, not meaning;
# keep two so the intensity survives as a feature. Runs at the end, after NFKC has turned "！？，" into
# "!?,", so only the marks NFKC leaves alone ("。、…") need their own entries.
_REPEATED_PUNCT = re.compile(r"([!?,.~。、…])\1{2,}")


def normalize_text(text: str) -> str:
    """Full-width to half-width (NFKC), one space for any run of whitespace, long punctuation runs cut.

    NFKC turns full-width letters, digits and punctuation into their half-width forms
    ("１２３ＡＢＣ！，" → "123ABC!,"); Chinese characters and the marks without a half-width form
    ("。、「」") stay as they are.
    """
    text = unicodedata.normalize("NFKC", text)
    text = _WHITESPACE.sub(" ", text).strip()
    return _REPEATED_PUNCT.sub(r"\1\1", text)
