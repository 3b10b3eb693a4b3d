"""Signed checkpoints in the C2SP signed-note / tlog-checkpoint format."""
from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    key_id,
    open_note,
    parse_vkey,
    public_key_bytes,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
    vkey,
)

# The published example of golang.org/x/mod/sumdb/note (the reference signed-note implementation):
# its signer key (0x01 || Ed25519 seed), verifier key, text and signed note.
GO_SIGNER_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

ORIGIN = "appliance.example/audit"
ROOT = hashlib.sha256(b"some root").digest()


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _go_key() -> Ed25519PrivateKey:
    raw = base64.b64decode(GO_SIGNER_KEY.split("+", 4)[4])
    assert raw[0] == 1
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


def test_matches_the_reference_implementation_byte_for_byte() -> None:
    go_key = _go_key()
    assert vkey("PeterNeumann", go_key.public_key()) == GO_VERIFIER_KEY
    assert sign_note(GO_TEXT, go_key, "PeterNeumann") == GO_NOTE
    name, public_key = parse_vkey(GO_VERIFIER_KEY)
    assert name == "PeterNeumann"
    assert open_note(GO_NOTE, public_key, name) == GO_TEXT
    with pytest.raises(CheckpointError, match="does not verify"):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), public_key, name)


def test_checkpoint_layout_follows_tlog_checkpoint(key: Ed25519PrivateKey) -> None:
    note = sign_checkpoint(ORIGIN, 1234, ROOT, key, ORIGIN)
    body, signature_line = note.split("\n\n")
    assert body.split("\n") == [ORIGIN, "1234", base64.b64encode(ROOT).decode()]
    assert signature_line.startswith(f"\u2014 {ORIGIN} ") and signature_line.endswith("\n")
    raw = base64.b64decode(signature_line.split(" ")[2])
    assert raw[:4] == key_id(ORIGIN, key.public_key())
    assert raw[:4] == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + public_key_bytes(key.public_key())).digest()[:4]
    key.public_key().verify(raw[4:], (body + "\n").encode())
    assert verify_checkpoint(note, key.public_key(), ORIGIN) == Checkpoint(ORIGIN, 1234, ROOT)


def test_extension_lines_round_trip(key: Ed25519PrivateKey) -> None:
    note = sign_checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest(), key, ORIGIN, extensions=("ext one",))
    assert verify_checkpoint(note, key.public_key(), ORIGIN).extensions == ("ext one",)


def test_checkpoint_resigned_with_another_key_is_rejected(key: Ed25519PrivateKey) -> None:
    other = Ed25519PrivateKey.generate()
    forged = sign_checkpoint(ORIGIN, 99, ROOT, other, ORIGIN)
    with pytest.raises(CheckpointError, match="no signature by key"):
        verify_checkpoint(forged, key.public_key(), ORIGIN)


def test_signature_with_our_key_id_but_forged_bytes_is_rejected(key: Ed25519PrivateKey) -> None:
    genuine = sign_checkpoint(ORIGIN, 99, ROOT, key, ORIGIN)
    other_sig = Ed25519PrivateKey.generate().sign(genuine.split("\n\n")[0].encode() + b"\n")
    forged_line = base64.b64encode(key_id(ORIGIN, key.public_key()) + other_sig).decode()
    forged = genuine.split("\n\n")[0] + f"\n\n\u2014 {ORIGIN} {forged_line}\n"
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_checkpoint(forged, key.public_key(), ORIGIN)


def test_edited_body_is_rejected(key: Ed25519PrivateKey) -> None:
    note = sign_checkpoint(ORIGIN, 1234, ROOT, key, ORIGIN)
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_checkpoint(note.replace("\n1234\n", "\n1233\n"), key.public_key(), ORIGIN)


def test_unknown_signatures_are_ignored(key: Ed25519PrivateKey) -> None:
    note = sign_checkpoint(ORIGIN, 7, ROOT, key, ORIGIN)
    witness = Ed25519PrivateKey.generate()
    text = note.split("\n\n")[0] + "\n"
    cosigned = note + sign_note(text, witness, "witness.example").split("\n\n")[1]
    assert verify_checkpoint(cosigned, key.public_key(), ORIGIN).size == 7
    assert verify_checkpoint(cosigned, witness.public_key(), "witness.example").size == 7


@pytest.mark.parametrize(
    "mangle, reason",
    [
        (lambda n: n.replace("\u2014", "-"), "em dash"),
        (lambda n: n.replace("\n\n", "\n"), "blank line"),
        (lambda n: n.rstrip("\n"), "newline"),
        (lambda n: n.replace("\n\n", "\x07\n\n"), "control"),
        (lambda n: n.replace("\n7\n", "\n07\n"), "does not verify"),
    ],
)
def test_malformed_notes_are_refused(key: Ed25519PrivateKey, mangle, reason: str) -> None:
    note = sign_checkpoint(ORIGIN, 7, ROOT, key, ORIGIN)
    with pytest.raises(CheckpointError, match=reason):
        verify_checkpoint(mangle(note), key.public_key(), ORIGIN)


@pytest.mark.parametrize(
    "body, reason",
    [
        (f"{ORIGIN}\n7\n", "origin, tree size and root"),
        (f"{ORIGIN}\n07\n{base64.b64encode(ROOT).decode()}\n", "leading zeros"),
        (f"{ORIGIN}\n-1\n{base64.b64encode(ROOT).decode()}\n", "decimal"),
        (f"{ORIGIN}\n7\n{base64.b64encode(ROOT[:31]).decode()}\n", "32 bytes"),
        (f"{ORIGIN}\n7\nnot base64!\n", "base64"),
    ],
)
def test_malformed_checkpoint_bodies_are_refused_even_when_signed(key: Ed25519PrivateKey, body: str, reason: str) -> None:
    with pytest.raises(CheckpointError, match=reason):
        verify_checkpoint(sign_note(body, key, ORIGIN), key.public_key(), ORIGIN)


def test_vkey_round_trip_and_tampering(key: Ed25519PrivateKey) -> None:
    text = vkey(ORIGIN, key.public_key())
    name, public_key = parse_vkey(text)
    assert name == ORIGIN and vkey(name, public_key) == text
    name_part, id_part, key_part = text.split("+", 2)
    wrong_id = f"{int(id_part, 16) ^ 1:08x}"
    for bad in (f"{name_part}x+{id_part}+{key_part}", f"{name_part}+{wrong_id}+{key_part}", f"{name_part}+{id_part}"):
        with pytest.raises(CheckpointError):
            parse_vkey(bad)


def test_bad_key_names_are_refused(key: Ed25519PrivateKey) -> None:
    for name in ("", "has space", "has+plus"):
        with pytest.raises(CheckpointError, match="key name"):
            sign_checkpoint(ORIGIN, 1, ROOT, key, name)
