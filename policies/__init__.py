"""Detection and policy: findings -> packs -> decision (allow, redact, block) with legal citations."""
from policies.decision import Decision, FiredRule
from policies.findings import Finding
from policies.pack import Pack, PackError, load_pack, load_packs
from policies.policy_engine import PolicyEngine, Verdict
from policies.redact import restore
from policies.stream import PolicyBlocked, StreamGuard
from policies.vocabulary import DIRECTIONS, ENTITY_TYPES, PURPOSES, ZONES, Action, Direction, Zone

__all__ = [
    "Action", "DIRECTIONS", "Decision", "Direction", "ENTITY_TYPES", "Finding", "FiredRule", "PURPOSES", "Pack",
    "PackError", "PolicyBlocked", "PolicyEngine", "StreamGuard", "Verdict", "ZONES", "Zone", "load_pack",
    "load_packs", "restore",
]
