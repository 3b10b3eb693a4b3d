"""Resolve overlapping findings: the highest score wins, then the longest span; none overlap after."""
from __future__ import annotations

from collections.abc import Iterable

from ..findings import Finding


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (-f.score, -(f.end - f.start), f.start)):
        if all(finding.end <= other.start or other.end <= finding.start for other in kept):
            kept.append(finding)
    return sorted(kept)
