"""The policy engine's answer for one direction (prompt or response) of one call."""
from __future__ import annotations

from dataclasses import dataclass, field

from policies.vocabulary import ACTIONS, Action

ACTION_RANK: dict[str, int] = {action: rank for rank, action in enumerate(ACTIONS)}


@dataclass(frozen=True)
class FiredRule:
    """One rule that matched: which pack, which rule, what it wants and why (legal citation)."""

    pack_id: str
    rule_id: str
    action: Action
    citation: str
    data_class: str


@dataclass
class Decision:
    """Outcome of `PolicyEngine.decide`: the most restrictive fired rule wins.

    `texts` are the inputs transformed per the action (placeholders such as `[PERSON_1]`, PAN masked
    where a pack says mask); for `block` they are the untouched inputs and must not be sent anywhere.
    `placeholders` maps each placeholder back to its original value so a redacted round trip can
    restore them in the answer; it holds raw sensitive values and is never logged or audited (texts
    and placeholders are left out of the repr for that reason).
    `finding_counts` counts findings per entity type (safe to audit: no values).
    `restorable` names the placeholders whose rules say `restore`: only those may be put back into
    the answer of a redacted round trip (see `PolicyEngine.restores`).
    """

    action: Action
    texts: list[str] = field(repr=False)
    fired: list[FiredRule] = field(default_factory=list)
    finding_counts: dict[str, int] = field(default_factory=dict)
    placeholders: dict[str, str] = field(default_factory=dict, repr=False)
    restorable: frozenset[str] = frozenset()

    @property
    def rule_ids(self) -> list[str]:
        """`pack:rule` of every fired rule, once each (a rule may fire for several data classes)."""
        return list(dict.fromkeys(f"{r.pack_id}:{r.rule_id}" for r in self.fired))

    @property
    def citations(self) -> list[str]:
        return sorted({r.citation for r in self.fired})

    @property
    def deciding_rules(self) -> list[FiredRule]:
        """The fired rules whose action equals the decision's action."""
        return [r for r in self.fired if r.action == self.action]
