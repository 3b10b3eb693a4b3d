"""Opt-in encrypted capture of prompt and answer text, erasable per data subject (GDPR Art. 17).

Each data subject's texts are encrypted with AES-256-GCM under that subject's own random data key;
data keys are stored wrapped (AES-GCM) under the capture master key in the key directory. Audit
records hold only a capture reference, so erasing a subject (destroying its data keys) makes its
ciphertexts unreadable while every record hash, and so the whole chain, stays as it was. Subject
ids are stored only as HMAC digests, never in clear.
"""
from __future__ import annotations

import re
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, insert, select, update

from audit import keys
from audit.format import ERASURE, utc_timestamp
from audit.log import AuditLog
from audit.models import CAPTURE_KEYS, CAPTURES

NONCE_SIZE = 12
SUBJECT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+/-]{0,127}")
SUBJECT_ID_RULE = "1-128 letters, digits or . _ : @ + / -, starting with a letter or digit"
UNAVAILABLE = "capture store unavailable"


class CaptureError(RuntimeError):
    """A capture cannot be read: unknown reference, erased subject, or ciphertext that fails to decrypt."""


class CaptureErased(CaptureError):
    """The capture's data subject was erased: its data key is destroyed and the text is gone for good."""


def check_subject_id(subject_id: str) -> str:
    """`subject_id` if it is a well-formed data subject id; ValueError (never quoting the value) if not."""
    if not SUBJECT_ID_PATTERN.fullmatch(subject_id):
        raise ValueError(f"a data subject id must be {SUBJECT_ID_RULE}")
    return subject_id


class CaptureVault:
    """Encrypted text storage beside an audit store (same database, keys in the store's key dir)."""

    def __init__(self, log: AuditLog) -> None:
        self._log = log
        self._database = log.database
        self._master = AESGCM(keys.load_capture_key(log.key_dir))

    def capture(self, subject_id: str, text: str) -> str:
        """Encrypt and store `text` under the subject's data key; returns the reference for the record."""
        subject = self._log.digest(check_subject_id(subject_id))
        ref = secrets.token_hex(16)
        with self._database.transaction(UNAVAILABLE) as conn:
            row = conn.execute(
                select(CAPTURE_KEYS.c.key_id, CAPTURE_KEYS.c.wrapped_key)
                .where(CAPTURE_KEYS.c.subject == subject, CAPTURE_KEYS.c.erased.is_(None))
                .limit(1)
            ).first()
            if row is None:
                key_id, data_key = secrets.token_hex(16), AESGCM.generate_key(bit_length=256)
                conn.execute(insert(CAPTURE_KEYS).values(
                    key_id=key_id, subject=subject, wrapped_key=self._wrap(key_id, data_key), created=utc_timestamp()
                ))
            else:
                key_id, data_key = row.key_id, self._unwrap(row.key_id, row.wrapped_key)
            nonce = secrets.token_bytes(NONCE_SIZE)
            ciphertext = AESGCM(data_key).encrypt(nonce, text.encode(), _aad(ref, key_id))
            conn.execute(insert(CAPTURES).values(
                ref=ref, key_id=key_id, nonce=nonce, ciphertext=ciphertext, created=utc_timestamp()
            ))
        return ref

    def read(self, ref: str) -> str:
        """The captured text; CaptureErased once its subject was erased."""
        query = (
            select(CAPTURES.c.key_id, CAPTURES.c.nonce, CAPTURES.c.ciphertext, CAPTURE_KEYS.c.wrapped_key)
            .join(CAPTURE_KEYS, CAPTURE_KEYS.c.key_id == CAPTURES.c.key_id)
            .where(CAPTURES.c.ref == ref)
        )
        with self._database.reading(UNAVAILABLE) as conn:
            row = conn.execute(query).first()
        if row is None:
            raise CaptureError(f"no capture with reference {ref!r}")
        if row.wrapped_key is None:
            raise CaptureErased(f"capture {ref} is erased: its data subject's key was destroyed")
        data_key = self._unwrap(row.key_id, row.wrapped_key)
        try:
            return AESGCM(data_key).decrypt(row.nonce, row.ciphertext, _aad(ref, row.key_id)).decode()
        except InvalidTag:
            raise CaptureError(f"capture {ref} does not decrypt: the ciphertext was altered") from None

    def erase(self, subject_id: str) -> int:
        """Destroy every data key of the subject (audited first); returns how many captures became unreadable.

        The `erasure` record names the subject only by its HMAC digest.
        """
        subject = self._log.digest(check_subject_id(subject_id))
        with self._database.reading(UNAVAILABLE) as conn:
            count = conn.execute(
                select(func.count())
                .select_from(CAPTURES.join(CAPTURE_KEYS, CAPTURE_KEYS.c.key_id == CAPTURES.c.key_id))
                .where(CAPTURE_KEYS.c.subject == subject, CAPTURE_KEYS.c.erased.is_(None))
            ).scalar_one()
        self._log.append(ERASURE, {"subject_digest": subject, "captures": count})
        with self._database.transaction("erasure not completed (retry it)") as conn:
            conn.execute(
                update(CAPTURE_KEYS)
                .where(CAPTURE_KEYS.c.subject == subject, CAPTURE_KEYS.c.erased.is_(None))
                .values(wrapped_key=None, erased=utc_timestamp())
            )
        return count

    def _wrap(self, key_id: str, data_key: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_SIZE)
        return nonce + self._master.encrypt(nonce, data_key, b"capture-key:" + key_id.encode())

    def _unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        try:
            return self._master.decrypt(wrapped[:NONCE_SIZE], wrapped[NONCE_SIZE:], b"capture-key:" + key_id.encode())
        except InvalidTag:
            raise CaptureError(f"data key {key_id} does not unwrap: wrong capture master key or altered key row") from None


def _aad(ref: str, key_id: str) -> bytes:
    """Binds a ciphertext to its reference and key, so rows cannot be swapped unnoticed."""
    return f"capture:{ref}:{key_id}".encode()
