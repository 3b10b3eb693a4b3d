"""The policy engine: findings + purpose + zone + direction -> one `Decision`.

Every rule of every pack that matches a finding fires; per finding the most restrictive action
wins (block > redact > allow), and the decision's action is the most restrictive over all findings.
Default: a finding that no rule matches (its type is in no pack's class, or no rule covers this
zone, purpose and direction) is allowed; it is still counted in `finding_counts`. Packs keep the
egress requirement by construction: the loader refuses a pack that could let a keep_inside class
reach the external zone in clear, and an allow rule can never outvote a redact or block rule.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from policies.decision import ACTION_RANK, Decision, FiredRule
from policies.findings import Finding
from policies.pack import Pack
from policies.redact import PlaceholderBook, Redaction, apply_redactions
from policies.vocabulary import DIRECTIONS, PURPOSES, ZONES, Direction, Zone


@dataclass(frozen=True)
class Verdict:
    """What the packs say about one entity type in one context."""

    action: str
    style: str
    restore: bool
    fired: tuple[FiredRule, ...]


class PolicyEngine:
    """Decides with a fixed set of loaded packs; safe to share between threads (no mutable state)."""

    def __init__(self, packs: Sequence[Pack]) -> None:
        if not packs:
            raise ValueError("no policy packs loaded; refusing to decide without policy")
        ids = [p.id for p in packs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate policy pack ids: {sorted(i for i in set(ids) if ids.count(i) > 1)}")
        self.packs: tuple[Pack, ...] = tuple(packs)
        self._rule_order = {(p.id, r.id): n for n, (p, r) in enumerate((p, r) for p in self.packs for r in p.rules)}

    def packs_info(self) -> list[dict[str, str]]:
        """Id, version and content hash of every pack in force, for the audit record."""
        return [{"id": p.id, "version": p.version, "sha256": p.sha256} for p in self.packs]

    def keeps_inside(self, entity_type: str) -> bool:
        """True if any pack puts `entity_type` in a class that must stay inside the facility."""
        return any(c.keep_inside and entity_type in c.entities for p in self.packs for c in p.classes.values())

    @staticmethod
    def restores(decision: Decision) -> dict[str, str]:
        """The placeholders of `decision` that may be restored in the answer (rules with `restore = true`)."""
        return {token: decision.placeholders[token] for token in sorted(decision.restorable)}

    def verdict(self, entity_type: str, *, purpose: str, zone: Zone, direction: Direction) -> Verdict:
        """The combined verdict of all packs for one entity type (allow with no fired rule if none matches)."""
        matches = []
        for pack in self.packs:
            classes = pack.classes_of(entity_type)
            for rule in pack.rules:
                matched = next((c for c in rule.classes if c in classes), None)
                if matched and rule.applies(zone, purpose, direction):
                    matches.append((rule, FiredRule(pack.id, rule.id, rule.action, rule.citation, matched)))  # type: ignore[arg-type]
        action = max((r.action for r, _ in matches), key=ACTION_RANK.__getitem__, default="allow")
        redacting = [r for r, _ in matches if r.action == "redact"]
        placeholder_rules = [r for r in redacting if r.style == "placeholder"]
        style = "placeholder" if placeholder_rules or not redacting else "mask"
        restore = bool(placeholder_rules) and all(r.restore for r in placeholder_rules)
        return Verdict(action, style, restore, tuple(f for _, f in matches))

    def decide(self, texts: list[str], findings: list[list[Finding]], *, purpose: str, zone: Zone,
               direction: Direction, placeholders: dict[str, str] | None = None) -> Decision:
        """Decide for all messages of one call (or one answer) at once.

        `placeholders` (the prompt decision's mapping, when deciding its answer) keeps numbering
        consistent; the returned decision's mapping extends it. Raises ValueError on bad input.
        """
        self._check(texts, findings, purpose, zone, direction)
        verdicts: dict[str, Verdict] = {}
        for text_findings in findings:
            for f in text_findings:
                if f.entity_type not in verdicts:
                    verdicts[f.entity_type] = self.verdict(f.entity_type, purpose=purpose, zone=zone, direction=direction)
        action = max((v.action for v in verdicts.values()), key=ACTION_RANK.__getitem__, default="allow")
        fired = sorted({f for v in verdicts.values() for f in v.fired},
                       key=lambda f: (self._rule_order[(f.pack_id, f.rule_id)], f.data_class))
        counts = dict(sorted(Counter(f.entity_type for fs in findings for f in fs).items()))
        book = PlaceholderBook(placeholders)
        if action != "redact":
            return Decision(action, list(texts), fired, counts, dict(book.mapping))  # type: ignore[arg-type]
        redacted = [
            apply_redactions(text, [Redaction(f.start, f.end, f.entity_type, v.style, v.restore)
                                    for f in fs if (v := verdicts[f.entity_type]).action == "redact"], book)
            for text, fs in zip(texts, findings)
        ]
        return Decision("redact", redacted, fired, counts, book.mapping, frozenset(book.restorable))

    @staticmethod
    def _check(texts: list[str], findings: list[list[Finding]], purpose: str, zone: str, direction: str) -> None:
        for name, value, known in (("purpose", purpose, PURPOSES), ("zone", zone, ZONES), ("direction", direction, DIRECTIONS)):
            if value not in known:
                raise ValueError(f"unknown {name} {value!r} (known: {', '.join(known)})")
        if len(texts) != len(findings):
            raise ValueError(f"{len(texts)} texts but {len(findings)} finding lists")
        for index, (text, text_findings) in enumerate(zip(texts, findings)):
            for f in text_findings:
                if not 0 <= f.start < f.end <= len(text):
                    raise ValueError(f"finding {f.entity_type} at {f.start}:{f.end} lies outside message {index} "
                                     f"(length {len(text)})")
