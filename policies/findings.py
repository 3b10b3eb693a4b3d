"""What the detector reports: one typed span of sensitive data in a text."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Finding:
    """A detected identifier: `text[start:end]` is of `entity_type` (e.g. "PERSON", "US_SSN")."""

    start: int
    end: int
    entity_type: str
    score: float
    recognizer: str
    label_start: int | None = None  # where the label begins, for a value found by its label ("MRN: 123")

    @property
    def held_from(self) -> int:
        """Where this finding begins together with its label: text from here on is released as one."""
        return self.start if self.label_start is None else min(self.start, self.label_start)

    def as_json(self) -> dict[str, object]:
        """The public contract of `appliance scan --jsonl` and POST /v1/scan."""
        return {"start": self.start, "end": self.end, "entity_type": self.entity_type, "score": round(self.score, 4)}
