"""Personal data: sealed where it must be kept whole, redacted where it is only quoted.

Stored events carry keyed pseudonyms (``dataflows.enrich.Pseudonymiser``). A dead letter is
different: an operator must be able to replay the record as it arrived, so its payload is kept
whole but sealed (AES-256-GCM) with a key derived from ``PII_HMAC_KEY`` (HKDF-SHA256): without
that key the stored payload and the dead-letter topic's copy are unreadable. The nonce is derived
from the record's coordinates, so a replay seals the same record to the same bytes and its
upsert stays a no-op; a nonce never repeats with another plaintext, as one Kafka offset holds
one record.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ico_core.errors import CodecError

#: Fields whose values are personal data: a validation reason never quotes them.
PII_FIELDS = frozenset({"email", "ip_address", "wallet_address", "social_handles"})
REDACTED = "<redacted>"
#: Sealed payloads start with this version byte, so the scheme can change later.
_V1 = b"\x01"
_NONCE_BYTES = 12


class PayloadSealer:
    """Seals and opens dead-letter payloads with a key derived from the PII key."""

    def __init__(self, pii_key: bytes) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=64, salt=None, info=b"ico-analytics dead letters"
        ).derive(pii_key)
        self._aead = AESGCM(derived[:32])
        self._nonce_key = derived[32:]

    def seal(self, coordinates: str, payload: bytes) -> bytes:
        """``payload`` sealed, bound to ``coordinates`` (e.g. ``topic:partition:offset``)."""
        aad = coordinates.encode()
        nonce = hmac.new(self._nonce_key, aad, hashlib.sha256).digest()[:_NONCE_BYTES]
        return _V1 + nonce + self._aead.encrypt(nonce, payload, aad)

    def open(self, coordinates: str, sealed: bytes) -> bytes:
        """The payload back; ``CodecError`` for another key, other coordinates or tampering."""
        if sealed[:1] != _V1 or len(sealed) < 1 + _NONCE_BYTES:
            raise CodecError("not a sealed dead-letter payload")
        nonce, ciphertext = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, ciphertext, coordinates.encode())
        except Exception:  # cryptography's InvalidTag says nothing more
            raise CodecError(
                f"cannot open the payload of {coordinates}: another PII_HMAC_KEY or tampered"
            ) from None
