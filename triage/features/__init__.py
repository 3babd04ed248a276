"""Text features: normalisation, PII masking, tokenisation, embeddings."""

from triage.features.normalize import normalize_text
from triage.features.pii import mask_pii
from triage.features.prepare import PreparedText, prepare_text
from triage.features.tokenizer import tokenize, warm_tokenizer

__all__ = ["PreparedText", "mask_pii", "normalize_text", "prepare_text", "tokenize", "warm_tokenizer"]
