"""Signed, tamper-evident audit log: the contract (`audit.format`), the write path (`audit.log`), reads
(`audit.reader`), Merkle proofs, checkpoints, export and the offline verifier (`audit.verify`).

Import the modules you need: this package imports nothing itself, so the offline verifier keeps to the
standard library plus `cryptography`.
"""
