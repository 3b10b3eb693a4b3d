"""Write the labelled detection evaluation set: `.venv/bin/python tests/data/detection/generate.py`.

Three splits with disjoint templates, name/place pools and seeds: `dev` (tuned on), `heldout`
(measured only) and `fresh` (authored later in other registers and layouts, measured only; see
templates_fresh.py). Output: one JSONL per split, one document per line:
{"id", "split", "category", "template", "text", "spans": [{"start", "end", "entity_type"}]}.
Categories: `clinical` (notes, billing, registration), `general` (letters, e-mail, forms, chat),
`benign` (clinical text without identifiers).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import templates_dev
import templates_fresh
import templates_heldout
from synth import Synth

HERE = Path(__file__).resolve().parent
SPLITS = {"dev": (templates_dev, 20240601), "heldout": (templates_heldout, 99173), "fresh": (templates_fresh, 31337)}
DOCS_PER_CATEGORY = {"clinical": 130, "general": 110, "benign": 50}


def build_split(name: str) -> list[dict[str, object]]:
    module, seed = SPLITS[name]
    rng = random.Random(seed)
    synth = getattr(module, "SYNTH", Synth)(rng, module.POOLS)
    documents = []
    for category, templates in (("clinical", module.CLINICAL), ("general", module.GENERAL), ("benign", module.BENIGN)):
        for index in range(DOCS_PER_CATEGORY[category]):
            template_index = index % len(templates)
            text, spans = synth.render(templates[template_index])
            documents.append({"id": f"{name}-{category}-{index:03d}", "split": name, "category": category,
                              "template": template_index, "text": text, "spans": spans})
    return documents


def main() -> None:
    for name in SPLITS:
        path = HERE / f"{name}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for document in build_split(name):
                out.write(json.dumps(document, ensure_ascii=False) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
