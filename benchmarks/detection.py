"""Detection quality and speed: our Detector (local zone, and the recall-first external zone) vs stock
presidio on the same spaCy model, in one run.

Run: .venv/bin/python benchmarks/detection.py [--sets ...] [--seed N] [--errors N] [--skip-stock]

Sets, and whether the detector was tuned on them:
- `dev` (tuned on), `heldout` and `fresh` (measured first, but issue 11 found they had been tuned on
  since): tests/data/detection/*.jsonl.
- `unseen` (never tuned on): new templates and value layouts (benchmarks/detection_sets/unseen.py),
  written before issue 11's tuning and rendered at run time from a fresh seed (printed).
- `notes` (never tuned on): real-note style text (i2b2 2014 layout: record-date headers, name and
  record-number header lines, signature blocks, dictation lines), benchmarks/detection_sets/notes.py.
- `world` (written before any result on it was seen, used only to check that changes generalise):
  general free-form international PII text (tickets, e-mails, chat, HR notes, bank/legal letters,
  forms; addresses of eight countries, EU/UK/CA ids, IBANs, handles, IPs; name and place pools of
  its own), benchmarks/detection_sets/world.py. Its misses on one development seed (1001) were read
  while the method changed (general mechanisms only), so report it on other seeds.
- `calls` (never tuned on): call transcripts, referral letters, claim forms, case notes, reviews,
  text messages, pools of its own; written after those changes and before any result on it,
  benchmarks/detection_sets/calls.py.
- the evasion suite (tests/data/detection/evasions.py): share of cases flagged for the external zone.

Token-level scoring: tokens are the maximal runs of word characters (text split on whitespace and
punctuation). A token is gold-positive when it overlaps a gold span and predicted-positive when it
overlaps a predicted span. Overall recall/precision are type-agnostic; per-type recall counts gold
tokens of that type that were predicted (any type); per-type precision counts predicted tokens of
that type that fall in any gold span. Speed is wall time of detection per KB of UTF-8 text.
Stock presidio runs with its defaults (default recognizers, default NER mapping, no score threshold);
its entity names are mapped into our vocabulary and names outside it are dropped.
"""
from __future__ import annotations

import argparse
import json
import re
import secrets
import shlex
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.detection_sets import calls, notes, unseen, world  # noqa: E402
from benchmarks.detection_sets.render import Renderer, render_documents  # noqa: E402
from policies.detect import PRESIDIO_TO_VOCABULARY, Detector, stock_presidio_analyzer  # noqa: E402
from policies.detect.offline import load_spacy_pipeline  # noqa: E402

DATA = ROOT / "tests" / "data" / "detection"
sys.path.insert(0, str(DATA))
from evasions import EVASIONS  # noqa: E402

FILE_SETS = ("dev", "heldout", "fresh")
GENERATED_SETS = {"unseen": (unseen.TEMPLATES, 40, Renderer), "notes": (notes.TEMPLATES, 60, Renderer),
                  "world": (world.TEMPLATES, 64, world.WorldRenderer), "calls": (calls.TEMPLATES, 50, calls.CallRenderer)}
TUNED_ON = {"dev": "tuned on", "heldout": "tuned on (issue 11)", "fresh": "tuned on (issue 11)",
            "unseen": "never tuned on, fresh seed", "notes": "never tuned on, fresh seed",
            "world": "written before any result on it; its errors were read on seed 1001 while the method changed",
            "calls": "never tuned on: written after the changes, before any result on it; fresh seed"}
DETECTORS = ("ours-local", "ours-external", "stock")
TOKEN = re.compile(r"\w+")
Span = tuple[int, int, str]


@dataclass
class Tally:
    gold: int = 0
    predicted: int = 0
    hit_gold: int = 0  # gold tokens predicted
    hit_predicted: int = 0  # predicted tokens inside gold
    gold_by_type: Counter = field(default_factory=Counter)
    hit_by_type: Counter = field(default_factory=Counter)
    predicted_by_type: Counter = field(default_factory=Counter)
    correct_by_type: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    kilobytes: float = 0.0

    def add(self, text: str, gold: list[Span], predicted: list[Span]) -> None:
        for token in TOKEN.finditer(text):
            gold_type = _type_at(gold, token.start(), token.end())
            predicted_type = _type_at(predicted, token.start(), token.end())
            if gold_type:
                self.gold += 1
                self.gold_by_type[gold_type] += 1
                if predicted_type:
                    self.hit_gold += 1
                    self.hit_by_type[gold_type] += 1
            if predicted_type:
                self.predicted += 1
                self.predicted_by_type[predicted_type] += 1
                if gold_type:
                    self.hit_predicted += 1
                    self.correct_by_type[predicted_type] += 1

    @property
    def recall(self) -> float:
        return self.hit_gold / self.gold if self.gold else float("nan")

    @property
    def precision(self) -> float:
        return self.hit_predicted / self.predicted if self.predicted else float("nan")

    @property
    def ms_per_kb(self) -> float:
        return 1000 * self.seconds / self.kilobytes if self.kilobytes else float("nan")


def _type_at(spans: list[Span], start: int, end: int) -> str | None:
    for span_start, span_end, entity in spans:
        if span_start < end and start < span_end:
            return entity
    return None


def load_set(name: str, seed: int) -> list[dict]:
    if name in GENERATED_SETS:
        templates, per_category, renderer = GENERATED_SETS[name]
        return render_documents(templates, seed, per_category, name, renderer)
    with (DATA / f"{name}.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def our_spans(detector: Detector, zone: str) -> Callable[[str], list[Span]]:
    return lambda text: [(f.start, f.end, f.entity_type) for f in detector.scan(text, zone).original_findings]


def stock_spans(analyzer) -> Callable[[str], list[Span]]:
    def run(text: str) -> list[Span]:
        results = sorted(analyzer.analyze(text=text, language="en"), key=lambda r: -r.score)
        return [(r.start, r.end, PRESIDIO_TO_VOCABULARY[r.entity_type]) for r in results
                if r.entity_type in PRESIDIO_TO_VOCABULARY]
    return run


def evaluate(documents: list[dict], detectors: dict[str, Callable[[str], list[Span]]],
             errors: list | None = None) -> dict[str, dict[str, Tally]]:
    """Run every detector on each document in turn (interleaved, so load on the machine hits all alike)."""
    tallies: dict[str, dict[str, Tally]] = {name: defaultdict(Tally) for name in detectors}
    for document in documents:
        text = document["text"]
        gold = [(s["start"], s["end"], s["entity_type"]) for s in document["spans"]]
        for name, detect in detectors.items():
            started = time.perf_counter()
            predicted = detect(text)
            elapsed = time.perf_counter() - started
            for key in (document["category"], "all"):
                tally = tallies[name][key]
                tally.add(text, gold, predicted)
                tally.seconds += elapsed
                tally.kilobytes += len(text.encode("utf-8")) / 1024
            if errors is not None and name == "ours-external":
                errors.extend(_errors(document, gold, predicted))
    return tallies


def _errors(document: dict, gold: list[Span], predicted: list[Span]) -> list[str]:
    text = document["text"]
    lines = []
    for start, end, entity in gold:
        covered = {t.start() for t in TOKEN.finditer(text, start, end) if _type_at(predicted, t.start(), t.end())}
        if len(covered) < len(TOKEN.findall(text[start:end])):
            lines.append(f"MISS {entity:22} {text[start:end]!r}  <- {document['id']}: ...{text[max(0, start - 40):start]!r}")
    for start, end, entity in predicted:
        if not any(_type_at(gold, t.start(), t.end()) for t in TOKEN.finditer(text, start, end)):
            lines.append(f"FP   {entity:22} {text[start:end]!r}  <- {document['id']}: ...{text[max(0, start - 40):start]!r}")
    return lines


def _fmt(value: float) -> str:
    return "  n/a" if value != value else f"{value:5.3f}"


def report(name: str, tallies: dict[str, dict[str, Tally]]) -> None:
    print(f"\n=== set: {name} ({TUNED_ON[name]}) ===")
    names = [n for n in DETECTORS if n in tallies]
    print(f"{'category':10} {'KB':>6} | " + " | ".join(f"{n + ' R':>15} {'P':>5} {'ms/KB':>6}" for n in names))
    categories = [c for c in ("clinical", "notes", "general", "benign", "all") if tallies[names[0]][c].kilobytes]
    for category in categories:
        cells = [f"{_fmt(tallies[n][category].recall):>15} {_fmt(tallies[n][category].precision):>5} "
                 f"{tallies[n][category].ms_per_kb:6.2f}" for n in names]
        print(f"{category:10} {tallies[names[0]][category].kilobytes:6.1f} | " + " | ".join(cells))
    if tallies[names[0]]["benign"].kilobytes:
        print("benign text, predicted (false positive) tokens: "
              + ", ".join(f"{n} {tallies[n]['benign'].predicted}" for n in names))
    everything = {n: tallies[n]["all"] for n in names}
    print(f"\n{'entity type':22} {'gold tok':>8} | " + " | ".join(f"{n + ' R':>15} {'P':>5}" for n in names))
    for entity in sorted({e for t in everything.values() for e in (*t.gold_by_type, *t.predicted_by_type)}):
        cells = []
        for n in names:
            t = everything[n]
            recall = t.hit_by_type[entity] / t.gold_by_type[entity] if t.gold_by_type[entity] else float("nan")
            precision = t.correct_by_type[entity] / t.predicted_by_type[entity] if t.predicted_by_type[entity] else float("nan")
            cells.append(f"{_fmt(recall):>15} {_fmt(precision):>5}")
        print(f"{entity:22} {everything[names[0]].gold_by_type[entity]:8d} | " + " | ".join(cells))


def evasion_report(detector: Detector) -> None:
    print("\n=== evasion suite (never tuned on before it was written; every case must be flagged, external zone) ===")
    flagged = 0
    for case in EVASIONS:
        hit = bool(detector.scan_messages(list(case.messages), "external")[-1].findings)
        flagged += hit
        print(f"{'flagged' if hit else 'MISSED':8} {case.name}")
    print(f"evasions flagged: {flagged}/{len(EVASIONS)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    every = [*FILE_SETS, *GENERATED_SETS]
    parser.add_argument("--sets", nargs="+", default=every, choices=every)
    parser.add_argument("--seed", type=int, default=None, help="seed of the generated sets (default: fresh each run)")
    parser.add_argument("--errors", type=int, default=0, help="print up to N misses/false positives (ours, external) per set")
    parser.add_argument("--skip-stock", action="store_true", help="do not run stock presidio (faster runs)")
    args = parser.parse_args()
    seed = secrets.randbelow(2**31) if args.seed is None else args.seed
    print("command:", shlex.join([".venv/bin/python", "benchmarks/detection.py", *sys.argv[1:]]))
    print(f"seed of the generated sets: {seed} (repeat with --seed {seed})")

    nlp = load_spacy_pipeline()
    detector = Detector.load()
    detectors = {"ours-local": our_spans(detector, "local"), "ours-external": our_spans(detector, "external")}
    if not args.skip_stock:
        detectors["stock"] = stock_spans(stock_presidio_analyzer(nlp))
    warm_up = "Patient John Smith, DOB 01/02/1950, phone 617-555-0134."
    for detect in detectors.values():
        detect(warm_up)
    for name in args.sets:
        errors: list[str] | None = [] if args.errors else None
        report(name, evaluate(load_set(name, seed), detectors, errors))
        if errors:
            print(f"\n--- first {args.errors} of {len(errors)} {name} errors (ours, external zone) ---")
            print("\n".join(errors[:args.errors]))
    evasion_report(detector)


if __name__ == "__main__":
    main()
