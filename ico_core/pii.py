"""Personal data: sealed where it must be kept whole, redacted where it is only quoted.

Stored events carry keyed pseudonyms (``dataflows.enrich.Pseudonymiser``). A dead letter is
different: an operator must be able to replay the record as it arrived, so its payload is kept
whole but sealed (AES-256-GCM) with a key derived from ``PII_HMAC_KEY`` (HKDF-SHA256): without
that key the stored payload and the dead-letter topic's copy are unreadable. The nonce is derived
from the record's coordinates, so a replay seals the same record to the same bytes and its
upsert stays a no-op; a nonce never repeats with another plaintext, as one Kafka offset holds
one record.

A lead's email (``analytics.leads``, for the project's CRM) is sealed the same way under a key
derived from ``CRM_EMAIL_KEY``, bound to its registration id, its nonce derived from the email
too (``EmailSealer``): the dataflow holds that key to seal, and only the CRM export
(``ico-analytics crm leads``) opens.
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


class Sealer:
    """AES-256-GCM under a key derived (HKDF-SHA256) from ``key`` for one ``purpose``, with a
    nonce derived from the coordinates a value is bound to (keyed by the same key): the same
    value at the same coordinates always seals to the same bytes, so replayed upserts stay
    no-ops."""

    def __init__(self, key: bytes, purpose: bytes, key_name: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=purpose).derive(key)
        self._aead = AESGCM(derived[:32])
        self._nonce_key = derived[32:]
        self._key_name = key_name

    def seal(self, coordinates: str, payload: bytes) -> bytes:
        """``payload`` sealed, bound to ``coordinates``."""
        aad = coordinates.encode()
        nonce = self._nonce(aad, payload)
        return _V1 + nonce + self._aead.encrypt(nonce, payload, aad)

    def _nonce(self, aad: bytes, payload: bytes) -> bytes:
        return hmac.new(self._nonce_key, aad, hashlib.sha256).digest()[:_NONCE_BYTES]

    def open(self, coordinates: str, sealed: bytes) -> bytes:
        """The payload back; ``CodecError`` for another key, other coordinates or tampering."""
        if sealed[:1] != _V1 or len(sealed) < 1 + _NONCE_BYTES:
            raise CodecError(f"not a value sealed with {self._key_name}")
        nonce, ciphertext = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, ciphertext, coordinates.encode())
        except Exception:  # cryptography's InvalidTag says nothing more
            raise CodecError(
                f"cannot open the payload of {coordinates}: another {self._key_name} or tampered"
            ) from None


class PayloadSealer(Sealer):
    """Seals and opens dead-letter payloads (coordinates ``topic:partition:offset``)."""

    def __init__(self, pii_key: bytes) -> None:
        super().__init__(pii_key, b"ico-analytics dead letters", "PII_HMAC_KEY")


class EmailSealer(Sealer):
    """Seals and opens leads' emails (coordinates: the registration id).

    Unlike a Kafka offset, a registration id is the producer's word: a second registration may
    reuse one with another email, and a GCM nonce used for two plaintexts gives both away. So
    the nonce covers the email too: the same email under the same id still seals to the same
    bytes, another one to another nonce.
    """

    def __init__(self, crm_key: bytes) -> None:
        super().__init__(crm_key, b"ico-analytics crm emails", "CRM_EMAIL_KEY")

    def _nonce(self, aad: bytes, payload: bytes) -> bytes:
        mac = hmac.new(self._nonce_key, len(aad).to_bytes(4, "big") + aad, hashlib.sha256)
        mac.update(payload)
        return mac.digest()[:_NONCE_BYTES]
