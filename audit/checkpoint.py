"""What the log's Ed25519 keys sign: commit-group heads, and checkpoints (C2SP tlog-checkpoint bodies
inside C2SP signed notes).

A head signature is base64 Ed25519 over `audit.format.head_message(last seq, last leaf)`. A key is named
by `key_fingerprint` (SHA-256 of the raw public key). A checkpoint note reads

    <origin>
    <tree size, decimal>
    <base64 root hash>
    [extension lines]

    — <key name> <base64(4-byte key id || 64-byte Ed25519 signature over the text above)>

where the key id is SHA-256(key name || 0x0A || 0x01 || raw public key)[:4]. Verifier keys are
written `<name>+<hex key id>+<base64(0x01 || raw public key)>`, the usual note verifier string.
Standard library plus `cryptography` only: the offline verifier imports this module.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit.format import HASH_SIZE, fingerprint_of, head_message

ED25519_TYPE = b"\x01"
SIGNATURE_PREFIX = "\u2014 "
MAX_SIGNATURES = 64
_SIZE_RE = re.compile(r"0|[1-9][0-9]*")
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SPACE_RE = re.compile(r"\s")


class CheckpointError(ValueError):
    """A checkpoint or verifier key is malformed or not validly signed; the message says why."""


@dataclass(frozen=True)
class Checkpoint:
    """The tree head a checkpoint commits to."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    """The raw 32-byte Ed25519 public key."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, hex: how reviewers name the appliance's signing key."""
    return fingerprint_of(public_key_bytes(key))


def sign_head(key: Ed25519PrivateKey, last_seq: int, last_leaf: bytes) -> str:
    """Base64 Ed25519 signature over the head (last_seq, last_leaf)."""
    return base64.b64encode(key.sign(head_message(last_seq, last_leaf))).decode()


def verify_head(key: Ed25519PublicKey, last_seq: int, last_leaf: bytes, signature_b64: str) -> bool:
    """True when `signature_b64` is a valid signature of the head by `key`."""
    try:
        key.verify(base64.b64decode(signature_b64, validate=True), head_message(last_seq, last_leaf))
    except (InvalidSignature, ValueError):
        return False
    return True


def _check_key_name(key_name: str) -> None:
    if not key_name or "+" in key_name or _SPACE_RE.search(key_name) or _CONTROL_RE.search(key_name):
        raise CheckpointError("key name must be non-empty, without spaces, '+' or control characters")


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise CheckpointError(f"{what} is not valid base64") from None


def key_id(key_name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte note key id of an Ed25519 key under `key_name`."""
    _check_key_name(key_name)
    return hashlib.sha256(key_name.encode() + b"\n" + ED25519_TYPE + public_key_bytes(public_key)).digest()[:4]


def vkey(key_name: str, public_key: Ed25519PublicKey) -> str:
    """The note verifier key string `<name>+<hex key id>+<base64(0x01 || public key)>`."""
    encoded = base64.b64encode(ED25519_TYPE + public_key_bytes(public_key)).decode()
    return f"{key_name}+{key_id(key_name, public_key).hex()}+{encoded}"


def parse_vkey(text: str) -> tuple[str, Ed25519PublicKey]:
    """Parse a verifier key string into (key name, public key), checking its key id."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise CheckpointError("verifier key must read <name>+<hex key id>+<base64 key>")
    name, hex_id, encoded = parts
    _check_key_name(name)
    raw = _b64decode(encoded, "verifier key")
    if len(raw) != 33 or raw[:1] != ED25519_TYPE:
        raise CheckpointError("verifier key is not an Ed25519 (type 0x01) key")
    public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    if hex_id.lower() != key_id(name, public_key).hex() or len(hex_id) != 8:
        raise CheckpointError("verifier key id does not match its name and key")
    return name, public_key


def format_body(checkpoint: Checkpoint) -> str:
    """The checkpoint note text (ends with a newline)."""
    if not checkpoint.origin or _CONTROL_RE.search(checkpoint.origin) or "\n" in checkpoint.origin:
        raise CheckpointError("origin must be one non-empty line")
    if checkpoint.size < 0:
        raise CheckpointError("tree size must not be negative")
    if len(checkpoint.root) != HASH_SIZE:
        raise CheckpointError("root hash must be 32 bytes")
    for line in checkpoint.extensions:
        if not line or "\n" in line or _CONTROL_RE.search(line):
            raise CheckpointError("extension lines must be single non-empty lines")
    lines = [checkpoint.origin, str(checkpoint.size), base64.b64encode(checkpoint.root).decode(), *checkpoint.extensions]
    return "\n".join(lines) + "\n"


def parse_body(text: str) -> Checkpoint:
    """Parse checkpoint note text (without signatures)."""
    if not text.endswith("\n"):
        raise CheckpointError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("checkpoint text needs origin, tree size and root hash lines")
    origin, size_line, root_line, *extensions = lines
    if not origin:
        raise CheckpointError("checkpoint origin line is empty")
    if not _SIZE_RE.fullmatch(size_line):
        raise CheckpointError("checkpoint tree size is not a decimal number without leading zeros")
    root = _b64decode(root_line, "checkpoint root hash")
    if len(root) != HASH_SIZE:
        raise CheckpointError("checkpoint root hash is not 32 bytes")
    if any(not line for line in extensions):
        raise CheckpointError("checkpoint extension lines must not be empty")
    return Checkpoint(origin, int(size_line), root, tuple(extensions))


def sign_note(text: str, key: Ed25519PrivateKey, key_name: str) -> str:
    """A signed note: `text` (ending in a newline), a blank line and one Ed25519 signature line."""
    if not text.endswith("\n") or _CONTROL_RE.search(text):
        raise CheckpointError("note text must end with a newline and hold no control characters")
    signature = key_id(key_name, key.public_key()) + key.sign(text.encode())
    return f"{text}\n{SIGNATURE_PREFIX}{key_name} {base64.b64encode(signature).decode()}\n"


def sign_checkpoint(
    origin: str,
    size: int,
    root: bytes,
    key: Ed25519PrivateKey,
    key_name: str,
    extensions: tuple[str, ...] = (),
) -> str:
    """A signed note committing to the tree head (origin, size, root)."""
    return sign_note(format_body(Checkpoint(origin, size, root, extensions)), key, key_name)


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Split a signed note into its text and its (key name, key id || signature) lines."""
    if _CONTROL_RE.search(note):
        raise CheckpointError("signed note contains control characters")
    if not note.endswith("\n"):
        raise CheckpointError("signed note must end with a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise CheckpointError("signed note has no blank line before its signatures")
    text, signature_block = note[:cut + 1], note[cut + 2:]
    lines = signature_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"signed note has more than {MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise CheckpointError("signature line does not start with an em dash and a space")
        name, sep, encoded = line[len(SIGNATURE_PREFIX):].partition(" ")
        if not sep or not name or " " in encoded:
            raise CheckpointError("signature line must read '— <key name> <base64 signature>'")
        raw = _b64decode(encoded, "signature")
        if len(raw) < 5:
            raise CheckpointError("signature is too short to hold a key id")
        signatures.append((name, raw))
    return text, signatures


def open_note(note: str, public_key: Ed25519PublicKey, key_name: str) -> str:
    """Verify `note` carries a valid signature by (`key_name`, `public_key`); return its text.

    Signatures by other keys are ignored, as the signed-note spec requires; a signature that names
    this key (same name and key id) but does not verify rejects the note.
    """
    text, signatures = split_note(note)
    expected_id = key_id(key_name, public_key)
    ours = [raw[4:] for name, raw in signatures if name == key_name and raw[:4] == expected_id]
    if not ours:
        raise CheckpointError(f"note carries no signature by key {key_name}+{expected_id.hex()}")
    for signature in ours:
        try:
            public_key.verify(signature, text.encode())
        except InvalidSignature:
            raise CheckpointError(f"note signature by key {key_name} does not verify") from None
    return text


def verify_checkpoint(note: str, public_key: Ed25519PublicKey, key_name: str) -> Checkpoint:
    """Verify a checkpoint note signed by (`key_name`, `public_key`) and parse the tree head."""
    return parse_body(open_note(note, public_key, key_name))
