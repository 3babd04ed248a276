"""Personal data at rest and in view: what a customer or a lead wrote is masked before the service stores, logs or
shows it; the original complaint is kept only encrypted.

- Free text (the complaint's text, a product, a review comment) is shown and stored masked
  (`triage.features.pii`: ID-card, phone, bank-card numbers, e-mail, in every spelling it knows).
- An identifier that looks like personal data (a customer id or complaint id that is a phone or ID number) is
  replaced by its *reference*: the masked form beside a keyed hash (HMAC-SHA256), e.g. `[手机号]:kbgfhdaplmcejoin`.
  The same id always gives the same reference, so a customer's complaints are still found together and repeat
  detection still works; nobody without the key can tell which number it was. An id with no personal data in it
  is kept as it is. A reference is its own reference, so links and lookups by reference work too.
- The complaint's text as submitted is sealed with Fernet (AES-128-CBC + HMAC-SHA256, `cryptography`) and
  readable only through the admin endpoint that records who read it. The raw ids are not kept at all: the
  intake system that sent them has them, the service needs only their references.

Keys: `TRIAGE_DATA_KEY` (one Fernet key, or several separated by commas: the first seals, all open — a key
rotation) or a key file created owner-only beside the database; the references use the matter-reference key
(`TRIAGE_MATTER_REFERENCE_KEY` or `reference.key`), which already ties contract and card numbers to a matter.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from triage.features.pii import canonical_number, mask_identifier
from triage.schemas import ComplaintIn

DATA_KEY_FILE = "data.key"
REFERENCE_KEY_FILE = "reference.key"  # the file ServiceSettings.reference_key() makes in data_dir
_ID_PATTERN_SAFE = "pii-"  # complaint ids must stay [A-Za-z0-9._:-]: their reference has no masked part
# A keyed hash written with letters only (hex digits moved to g-p): a reference never holds a digit run that the
# masking could take for a number, so masking a reference leaves it as it is.
_LETTERS = str.maketrans("0123456789", "ghijklmnop")


class OriginalUnreadable(Exception):
    """The sealed original cannot be opened with the configured keys (sealed under another key)."""


def create_secret_file(path: Path, secret: bytes) -> None:
    """Write a secret to a new file that only its owner may read (created 0600, never world-readable for a
    moment); if another process made it first, theirs is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(descriptor, "wb") as file:
        file.write(secret)
        file.flush()
        os.fsync(file.fileno())


def key_file(path: Path, make: bytes) -> bytes:
    """The secret in `path`, created owner-only with `make` when it does not exist."""
    if not path.exists():
        create_secret_file(path, make)
    return path.read_bytes().strip()


class DataProtector:
    """Seals originals and makes the references of identifiers. `data_keys`: Fernet keys (the first seals);
    `reference_key`: the HMAC key of references."""

    def __init__(self, data_keys: list[bytes], reference_key: bytes):
        if not data_keys:
            raise ValueError("at least one data key is needed")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in data_keys])
        except ValueError as exc:  # not 32 url-safe base64 bytes
            raise ValueError(f"a data key is not a Fernet key ({exc}); make one with "
                             "cryptography.fernet.Fernet.generate_key()") from None
        self._reference_key = reference_key

    @classmethod
    def from_keys(cls, data_key: str | None, reference_key: bytes | None, key_dir: Path | None) -> DataProtector:
        """Keys from settings; what is not set comes from (or is created in) `key_dir`; with neither, random keys
        that live as long as the process (an in-memory database)."""
        if data_key:
            keys = [k.strip().encode() for k in data_key.split(",") if k.strip()]
        elif key_dir is not None:
            keys = [key_file(key_dir / DATA_KEY_FILE, Fernet.generate_key())]
        else:
            keys = [Fernet.generate_key()]
        if reference_key is None:
            reference_key = (key_file(key_dir / REFERENCE_KEY_FILE, os.urandom(36).hex().encode())
                             if key_dir is not None else os.urandom(32))
        return cls(keys, reference_key)

    @classmethod
    def beside(cls, url: str) -> DataProtector:
        """For a store opened without keys: key files beside a SQLite database file (the files the service's
        settings default to when its data_dir holds the database), else keys for this process only."""
        path = url.split("///", 1)[-1] if url.startswith("sqlite") else ""
        key_dir = Path(path).resolve().parent if path and path != ":memory:" else None
        return cls.from_keys(None, None, key_dir)

    # ---- sealing the original ---------------------------------------------------------------------------
    def seal(self, text: str) -> bytes:
        """The text as a Fernet token (its JSON, so that more fields can join it later)."""
        return self._fernet.encrypt(json.dumps({"text": text}, ensure_ascii=False).encode())

    def open(self, token: bytes) -> str:
        try:
            return str(json.loads(self._fernet.decrypt(token))["text"])
        except InvalidToken:
            raise OriginalUnreadable("the original was sealed with a key this service does not have") from None

    # ---- what may be shown and stored ---------------------------------------------------------------------
    def digest(self, value: str) -> str:
        mac = hmac.new(self._reference_key, b"identifier\x00" + value.encode(), hashlib.sha256).hexdigest()
        return mac[:16].translate(_LETTERS)

    def customer_reference(self, customer_id: str | None) -> str | None:
        """The customer id as stored and shown: itself, or its masked form beside a keyed hash."""
        if customer_id is None:
            return None
        masked = mask_identifier(customer_id)
        if masked == customer_id:
            return customer_id
        # one number however written (138-1234-5678, 一三八…) is one customer
        return f"{masked[:128 - 18]}:{self.digest(canonical_number(customer_id) or customer_id)}"

    def complaint_reference(self, complaint_id: str | None) -> str | None:
        """The complaint id as stored and shown (titles, links): itself, or `pii-` and a keyed hash."""
        if complaint_id is None or mask_identifier(complaint_id) == complaint_id:
            return complaint_id
        return f"{_ID_PATTERN_SAFE}{self.digest(complaint_id)}"

    @staticmethod
    def mask_text(text: str | None) -> str | None:
        """Free text as stored and shown: every number and address masked (`mask_identifier`)."""
        return None if text is None else mask_identifier(text)

    def protect(self, complaint: ComplaintIn) -> ComplaintIn:
        """The complaint the service works with: ids as references, the product masked. The text stays whole —
        the model masks what it reads, and reads card numbers (hashed) to tie a matter — and is stored masked."""
        update: dict[str, Any] = {
            "complaint_id": self.complaint_reference(complaint.complaint_id),
            "customer_id": self.customer_reference(complaint.customer_id),
            "product": self.mask_text(complaint.product),
        }
        changed = {k: v for k, v in update.items() if v != getattr(complaint, k)}
        return complaint.model_copy(update=changed) if changed else complaint
