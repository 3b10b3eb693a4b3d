"""Streaming answer guard: release text only once no identifier can still be growing across it.

The guard keeps the not-yet-released text (`pending`) and already-released left context at least as
long as the longest label phrase (so a value is always judged with its label).
Once enough text is pending it scans context + pending, and releases the text before
`len(pending) - holdback_chars`, moved back to the start of any finding that straddles the cut, or to
the start of its label when the finding was found by its label ("MRN: 123"), so a label is never
released apart from its value. A non-streamed answer is checked in one scan (`check_whole`). An
identifier no longer than `holdback_chars` that starts before the cut is therefore complete inside
the scanned window; one that starts after it stays held. Released text goes through the policy
engine (direction "response"), so it is emitted redacted or masked, or the guard raises
`PolicyBlocked`. Each scan covers at most context + holdback + step + one delta (+ one identifier
that straddled the cut) characters, so the cost grows linearly with the answer, not quadratically.
A scan costs the detector's fixed overhead (about 20 ms here) more than its length, so the default
step of 64 characters trades a little burstiness for half the scans of a 32-character step.

Fast path (with `inert_prefix`, the detector's `Detector.inert_prefix`): a prefix of complete inert
words ("Once upon a time, ") that a scan has already seen is released at once, through the same
policy path with no findings, instead of waiting for holdback + step; the first word that is not
inert, and everything after it, keeps the rule above. The answer's first text gets a scan of its
own as soon as it arrives (one extra scan per answer, for the time to first text), so that scan runs
while the next token is decoded: once that token's leading whitespace shows the first word is
complete (and, for a capitalised word, that the next word is not), the scanned word goes out and
the whitespace after it, not yet scanned, waits for the next scan. Later, a scan's cut moves back
to the start of the word it falls in, so the text left pending starts at a word boundary and its
scanned inert words go out with the cut. Nothing leaves unscanned: a detector that fails on the
first words withholds them (fail closed). This is safe because an inert word is
never part of what the detector finds: it is everyday vocabulary and no name, place, number word,
month, label or cue (policies/detect/inert.py), and it is whole (whitespace after it) and starts at a
word boundary. Released text stays in the rescanned context, so a later value is still judged with
it, and labels ("MRN", "phone") and number words ("five five five") are never inert, so a label is
still released together with its value and a spelled-out number is still read whole.

With `restore` (the prompt decision's restorable placeholders, see `PolicyEngine.restores`) the
model's placeholders are put back before scanning, so the answer policy judges what the client sees;
a placeholder cut by a chunk boundary is held until it is complete.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from policies.decision import ACTION_RANK, Decision, FiredRule
from policies.findings import Finding
from policies.policy_engine import PolicyEngine
from policies.redact import restore as restore_placeholders
from policies.redact import split_partial_placeholder
from policies.vocabulary import Zone

Detect = Callable[[str], list[Finding]]
TAIL_CHARS = 8  # released characters kept to tell a word boundary and a sentence start
WORD_SNAP_CHARS = 32  # a scan's cut moves back at most this far to a word start (fast path on)


class InertPrefix(Protocol):
    """`Detector.inert_prefix`: the length of `text`'s prefix of complete inert words; `after` precedes `text`."""

    def __call__(self, text: str, *, after: str = "") -> int: ...


class PolicyBlocked(Exception):
    """The answer policy says block. Carries the deciding rules (ids, citations), never the value."""

    def __init__(self, fired: Sequence[FiredRule]) -> None:
        self.fired = list(fired)
        rules = ", ".join(dict.fromkeys(f"{r.pack_id}:{r.rule_id}" for r in self.fired))
        super().__init__(f"answer blocked by policy ({rules})")


class StreamGuard:
    """Feed model deltas in, get text that is safe to send out; `finish()` flushes the rest.

    `holdback_chars` must be at least the longest identifier to catch whole (the default 96 covers a
    79-character track 1 record). `inert_prefix` turns on the fast path for inert words (module docstring);
    None releases only after scans. `feed`/`finish` raise `PolicyBlocked` once the answer must stop.
    """

    def __init__(self, detect: Detect, engine: PolicyEngine, *, purpose: str, zone: Zone,
                 placeholders: Mapping[str, str] | None = None, restore: Mapping[str, str] | None = None,
                 holdback_chars: int = 96, context_chars: int = 128, scan_step_chars: int = 64,
                 inert_prefix: InertPrefix | None = None) -> None:
        if holdback_chars < 1 or context_chars < 0 or scan_step_chars < 1:
            raise ValueError("holdback_chars and scan_step_chars must be >= 1, context_chars >= 0")
        self._detect, self._engine, self._inert_prefix = detect, engine, inert_prefix
        self._purpose, self._zone = purpose, zone
        self._restore = dict(restore or {})
        self._holdback, self._context_chars, self._step = holdback_chars, context_chars, scan_step_chars
        self._placeholders = dict(placeholders or {})
        self._unrestored = ""  # a possibly partial placeholder at the end of the raw deltas
        self._pending = ""     # received, restored, not yet released
        self._context = ""     # tail of released raw text, scanned again for context only
        self._tail = ""        # the last few released raw characters, for the fast path
        self._scanned = 0      # pending[:_scanned] has been through a detector scan
        self._emitted: list[str] = []
        self._action = "allow"
        self._fired: dict[FiredRule, None] = {}
        self._counts: Counter[str] = Counter()
        self._blocked: PolicyBlocked | None = None
        self._finished = False

    @property
    def placeholders(self) -> dict[str, str]:
        """The call's placeholder mapping, extended by any redaction of the answer."""
        return dict(self._placeholders)

    @property
    def decision(self) -> Decision:
        """Summary of the answer so far for the audit record: action, fired rules, counts, emitted text."""
        return Decision(self._action, ["".join(self._emitted)], list(self._fired), dict(sorted(self._counts.items())),  # type: ignore[arg-type]
                        dict(self._placeholders))

    def feed(self, delta: str) -> str:
        """Take one delta; return the text that may be emitted now (often "")."""
        self._check_open()
        raw = self._unrestored + delta
        ready, self._unrestored = split_partial_placeholder(raw) if self._restore else (raw, "")
        self._pending += restore_placeholders(ready, self._restore)
        if len(self._pending) < self._holdback + self._step:
            return self._release_inert()
        return self._release(final=False) + self._release_inert()

    def scans_after(self, delta: str) -> bool:
        """Whether feeding `delta` may run a detector scan (else it only buffers or takes the fast path)."""
        first_release = self._inert_prefix is not None and not self._emitted
        return first_release or len(self._pending) + len(self._unrestored) + len(delta) >= self._holdback + self._step

    def check_whole(self, answer: str) -> str:
        """A non-streamed answer: one scan of all of it; returns what may be sent."""
        self._check_open()
        self._pending += restore_placeholders(self._unrestored + answer, self._restore)
        self._unrestored = ""
        self._finished = True
        return self._release(final=True) if self._pending else ""

    def finish(self) -> str:
        """End of the answer: check and return everything still held."""
        self._check_open()
        self._pending += self._unrestored
        self._unrestored = ""
        self._finished = True
        return self._release(final=True) if self._pending else ""

    def _check_open(self) -> None:
        if self._blocked is not None:
            raise self._blocked
        if self._finished:
            raise RuntimeError("StreamGuard already finished")

    def _release_inert(self) -> str:
        """The fast path: release the scanned pending prefix of complete inert words, if any, with no
        findings. The answer's first text gets a scan of its own, so nothing leaves unscanned."""
        inert_prefix = self._inert_prefix
        if inert_prefix is None:
            return ""
        cut = self._inert_cut(inert_prefix)
        if not cut and not self._emitted and self._scanned < len(self._pending) and (
                not self._scanned or inert_prefix(self._pending, after=self._tail)):
            self._scan_for_first_release()
            cut = self._inert_cut(inert_prefix)
        return self._emit(cut, []) if cut > 0 else ""

    def _inert_cut(self, inert_prefix: InertPrefix) -> int:
        """How much of the scanned pending text is complete inert words. Its last word counts as complete
        when unscanned whitespace follows it: the word is released, the whitespace waits for a scan."""
        scanned, pending = self._scanned, self._pending
        cut = inert_prefix(pending[:scanned], after=self._tail)
        word_ends_at_scan_end = 0 < scanned < len(pending) and pending[scanned].isspace() and not pending[scanned - 1].isspace()
        if cut < scanned and word_ends_at_scan_end and inert_prefix(pending, after=self._tail) > scanned:
            return scanned
        return cut

    def _scan_for_first_release(self) -> None:
        """Scan context + pending now; what may go out is what lies before the first finding."""
        offset = len(self._context)
        held = [f.held_from - offset for f in self._detect(self._context + self._pending) if f.end > offset]
        self._scanned = max(0, min([len(self._pending), *held]))

    def _release(self, final: bool) -> str:
        offset = len(self._context)
        spans = [(f.start - offset, f.end - offset, f) for f in self._detect(self._context + self._pending)
                 if f.end > offset]
        cut = len(self._pending) if final else self._scan_cut(spans)
        held = [f.held_from - offset for _, _, f in spans if f.held_from - offset >= max(cut, 0)]
        self._scanned = min([len(self._pending), *held])  # the fast path stops at the first finding held
        if cut <= 0:
            return ""
        findings = [Finding(max(start, 0), min(end, cut), f.entity_type, f.score, f.recognizer)
                    for start, end, f in spans if start < cut]
        return self._emit(cut, findings)

    def _scan_cut(self, spans: list[tuple[int, int, Finding]]) -> int:
        """Where a scan may release up to: holdback before the end, at a word start with the fast path on
        (moved there first: a word start may lie inside a finding), then before any straddling finding."""
        cut = len(self._pending) - self._holdback
        if self._inert_prefix is not None:
            cut = _word_start(self._pending, cut)
        return _safe_cut(spans, cut)

    def _emit(self, cut: int, findings: list[Finding]) -> str:
        """Release `pending[:cut]` through the answer policy; `findings` point into it."""
        segment = self._pending[:cut]
        decision = self._engine.decide([segment], [findings], purpose=self._purpose, zone=self._zone,
                                       direction="response", placeholders=self._placeholders)
        self._fired.update(dict.fromkeys(decision.fired))
        self._counts.update(decision.finding_counts)
        self._action = max(self._action, decision.action, key=ACTION_RANK.__getitem__)
        if decision.action == "block":
            self._blocked = PolicyBlocked(decision.deciding_rules)
            raise self._blocked
        self._placeholders = decision.placeholders
        self._context = (self._context + segment)[-self._context_chars:] if self._context_chars else ""
        self._tail = (self._tail + segment)[-TAIL_CHARS:]
        self._pending = self._pending[cut:]
        self._scanned = max(self._scanned - cut, 0)
        self._emitted.append(decision.texts[0])
        return decision.texts[0]


def _word_start(pending: str, cut: int) -> int:
    """Move `cut` back to the start of the word it falls in (within WORD_SNAP_CHARS), so what stays
    pending starts at a word boundary and the fast path can go on releasing inert words after a scan."""
    if cut <= 0 or cut >= len(pending) or pending[cut - 1].isspace():
        return cut
    space = max(pending.rfind(c, max(cut - WORD_SNAP_CHARS, 0), cut) for c in " \t\n")
    return space + 1 if space >= 0 else cut


def _safe_cut(spans: list[tuple[int, int, Finding]], cut: int) -> int:
    """Move `cut` back until no finding, with its label, straddles it."""
    offset = {id(f): f.start - start for start, _, f in spans}
    moved = True
    while moved and cut > 0:
        moved = False
        for _start, end, finding in spans:
            held_from = finding.held_from - offset[id(finding)]
            if held_from < cut < end:
                cut, moved = held_from, True
    return cut
