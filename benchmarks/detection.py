"""Detection quality and speed: our Detector vs stock presidio on the same spaCy model.

Run: .venv/bin/python benchmarks/detection.py [--splits dev heldout fresh] [--errors N] [--skip-stock]

Splits: `dev` (tuned on), `heldout` and `fresh` (measured only; `fresh` is written in other registers
and layouts, see tests/data/detection/templates_fresh.py). Each split is reported per category:
clinical, general (PII outside care), benign (clinical text without identifiers) and all.

Token-level scoring: tokens are the maximal runs of word characters (text split on whitespace and
punctuation). A token is gold-positive when it overlaps a gold span and predicted-positive when it
overlaps a predicted span. Overall recall/precision are type-agnostic; per-type recall counts gold
tokens of that type that were predicted (any type); per-type precision counts predicted tokens of
that type that fall in any gold span. Speed is wall time of analyze() per KB of UTF-8 text.
Stock presidio runs with its defaults (default recognizers, default NER mapping, no score threshold);
its entity names are mapped into our vocabulary and names outside it are dropped.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from policies.detect import PRESIDIO_TO_VOCABULARY, Detector, stock_presidio_analyzer  # noqa: E402
from policies.detect.offline import load_spacy_pipeline  # noqa: E402

DATA = ROOT / "tests" / "data" / "detection"
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


def load_split(name: str) -> list[dict]:
    with (DATA / f"{name}.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def our_spans(detector: Detector) -> Callable[[str], list[Span]]:
    return lambda text: [(f.start, f.end, f.entity_type) for f in detector.analyze(text)]


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
            if errors is not None and name == "ours":
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


def report(split: str, ours: dict[str, Tally], stock: dict[str, Tally]) -> None:
    print(f"\n=== split: {split} ===")
    print(f"{'category':10} {'docs-KB':>8} | {'ours R':>6} {'ours P':>6} {'ms/KB':>7} | {'stock R':>7} {'stock P':>7} {'ms/KB':>7}")
    for category in ("clinical", "general", "benign", "all"):
        o, s = ours[category], stock[category]
        print(f"{category:10} {o.kilobytes:8.1f} | {_fmt(o.recall):>6} {_fmt(o.precision):>6} {o.ms_per_kb:7.2f} | "
              f"{_fmt(s.recall):>7} {_fmt(s.precision):>7} {s.ms_per_kb:7.2f}")
    benign_o, benign_s = ours["benign"], stock["benign"]
    print(f"benign text, predicted (false positive) tokens: ours {benign_o.predicted}, stock {benign_s.predicted}")
    o, s = ours["all"], stock["all"]
    print(f"\n{'entity type':22} {'gold tok':>8} | {'ours R':>6} {'ours P':>6} | {'stock R':>7} {'stock P':>7}")
    for entity in sorted(set(o.gold_by_type) | set(o.predicted_by_type) | set(s.predicted_by_type)):
        def per_type(t: Tally) -> tuple[float, float]:
            recall = t.hit_by_type[entity] / t.gold_by_type[entity] if t.gold_by_type[entity] else float("nan")
            precision = t.correct_by_type[entity] / t.predicted_by_type[entity] if t.predicted_by_type[entity] else float("nan")
            return recall, precision
        (our_r, our_p), (stock_r, stock_p) = per_type(o), per_type(s)
        print(f"{entity:22} {o.gold_by_type[entity]:8d} | {_fmt(our_r):>6} {_fmt(our_p):>6} | {_fmt(stock_r):>7} {_fmt(stock_p):>7}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", nargs="+", default=["dev", "heldout", "fresh"], choices=["dev", "heldout", "fresh"])
    parser.add_argument("--errors", type=int, default=0, help="print up to N of our misses/false positives per split")
    parser.add_argument("--skip-stock", action="store_true", help="do not run stock presidio (faster tuning runs)")
    args = parser.parse_args()
    print("command:", shlex.join([".venv/bin/python", "benchmarks/detection.py", *sys.argv[1:]]))

    nlp = load_spacy_pipeline()
    detector = Detector.load()
    stock = stock_presidio_analyzer(nlp)
    ours_run, stock_run = our_spans(detector), stock_spans(stock)
    warm_up = "Patient John Smith, DOB 01/02/1950, phone 617-555-0134."
    ours_run(warm_up), stock_run(warm_up)
    for split in args.splits:
        documents = load_split(split)
        errors: list[str] | None = [] if args.errors else None
        detectors = {"ours": ours_run} if args.skip_stock else {"ours": ours_run, "stock": stock_run}
        tallies = evaluate(documents, detectors, errors)
        report(split, tallies["ours"], tallies.get("stock", defaultdict(Tally)))
        if errors:
            print(f"\n--- first {args.errors} of {len(errors)} {split} errors (ours) ---")
            print("\n".join(errors[:args.errors]))


if __name__ == "__main__":
    main()
