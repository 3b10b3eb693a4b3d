"""Signed, tamper-evident audit log: store, record format, Merkle proofs, checkpoints, export, verifier.

Import the modules you need (`audit.store`, `audit.verify`, ...): this package imports nothing
itself, so the offline verifier keeps to the standard library plus `cryptography`.
"""
