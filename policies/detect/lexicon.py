"""Word tables from real sources, for the recall-first layer (DESIGN section 5).

- Known-safe vocabulary: English words of everyday frequency (`wordfreq`, large English list, Zipf
  frequency >= COMMON_ZIPF), every word of the ICD-10-CM tabular list (`simple-icd-10-cm`: diseases,
  anatomy, procedures, eponyms) and drug names, generic and brand (`drug-named-entity-recognition`).
- Name tables: US Census 1990 surnames and first names (`names` package data) and an international
  first-name dictionary of about 48,000 names (`gender-guesser` data).
- Place names: the GeoNames gazetteer of cities over 15,000 people worldwide (about 23,000, native and
  ASCII spellings) and the GeoNames country list, both as shipped in the `geotext` package.

Reading the drug and ICD tables takes seconds, so the built lexicon is cached as a compressed JSON
file keyed by the versions of its sources (`python -m policies.detect.lexicon` builds it ahead).
"""
from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import math
import os
import pickle  # the drug table ships as a pickle inside its (pinned) package
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

COMMON_ZIPF = 3.0  # about once per 10^6 words: everyday English
LEXICON_FORMAT = 3
SOURCES = ("wordfreq", "simple-icd-10-cm", "drug-named-entity-recognition", "names", "gender-guesser", "geotext")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class Lexicon:
    safe_words: frozenset[str]     # lower case
    clinical_words: frozenset[str]  # lower case: ICD-10-CM and drug-name words (eponyms, brands)
    first_names: frozenset[str]    # lower case
    last_names: frozenset[str]     # lower case
    zipf: dict[str, float]         # everyday frequency of the names and places that are also English words
    places: frozenset[str] = frozenset()  # lower case, words joined by one space: "red deer", "cluj-napoca"

    def is_name(self, word: str) -> bool:
        lower = word.lower()
        return lower in self.first_names or lower in self.last_names

    def frequency(self, word: str) -> float:
        return self.zipf.get(word.lower(), 0.0)


def cache_dir() -> Path:
    return Path(os.environ.get("APPLIANCE_CACHE_DIR") or Path.home() / ".cache" / "compliance-appliance")


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """The lexicon, from the cache when its sources are unchanged (built and cached otherwise)."""
    key = hashlib.sha256(json.dumps([LEXICON_FORMAT, *((s, metadata.version(s)) for s in SOURCES)]).encode()).hexdigest()[:16]
    path = cache_dir() / f"lexicon-{key}.json.gz"
    if path.exists():
        try:
            return _from_json(json.loads(gzip.decompress(path.read_bytes())))
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt
    lexicon = build_lexicon()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(gzip.compress(json.dumps(_to_json(lexicon)).encode()))
        temporary.replace(path)
    except OSError:
        pass  # a read-only home: the lexicon is rebuilt in each process
    return lexicon


def build_lexicon() -> Lexicon:
    zipf = _english_zipf()
    clinical = _icd_words() | _drug_words()
    safe = {w for w, z in zipf.items() if z >= COMMON_ZIPF} | clinical
    first, last, places = _first_names(), _census("dist.all.last"), _places()
    return Lexicon(frozenset(safe), frozenset(clinical), frozenset(first), frozenset(last),
                   {w: zipf[w] for w in first | last | places if w in zipf}, frozenset(places))


def _english_zipf() -> dict[str, float]:
    import wordfreq

    return {w: round(math.log10(f * 1e9), 2) for w, f in wordfreq.get_frequency_dict("en", "large").items()
            if _WORD.fullmatch(w)}


def _icd_words() -> set[str]:
    xml = next(p for p in (resources.files("simple_icd_10_cm") / "data").iterdir() if p.name.endswith(".xml"))
    return {w for desc in re.findall(r"<desc>([^<]*)</desc>", xml.read_text(encoding="utf-8"))
            for w in _WORD.findall(desc.lower())}


def _drug_words() -> set[str]:
    table = resources.files("drug_named_entity_recognition") / "drug_ner_dictionary.pkl.bz2"
    variants = pickle.loads(bz2.decompress(table.read_bytes()))["drug_variant_to_canonical"]
    return {w for name in variants for w in _WORD.findall(name) if len(w) > 2}


def _census(file_name: str, min_percent: float = 0.0) -> set[str]:
    """Names of a census table held by at least `min_percent` % of people (the table's second column)."""
    text = (resources.files("names") / file_name).read_text(encoding="ascii")
    rows = [line.split() for line in text.splitlines() if line.strip()]
    return {row[0].lower() for row in rows if float(row[1]) >= min_percent}


def _first_names() -> set[str]:
    text = (resources.files("gender_guesser") / "data" / "nam_dict.txt").read_text(encoding="utf-8")
    international = {w for line in text.splitlines() if line[:1] not in ("#", "=", "") and len(line) > 30
                     for w in _WORD.findall(line[3:29].strip().lower().replace("+", " "))}
    return international | census_first_names()


@lru_cache(maxsize=1)
def census_first_names(min_percent: float = 0.0) -> frozenset[str]:
    """The US Census 1990 given names (about 5,000, lower case) held by at least `min_percent` % of people."""
    return frozenset(_census("dist.female.first", min_percent) | _census("dist.male.first", min_percent))


def _places() -> set[str]:
    """City (population over 15,000) and country names from the GeoNames tables that `geotext` ships."""
    distribution = metadata.distribution("geotext")
    cities = Path(str(distribution.locate_file("geotext/data/cities15000.txt"))).read_text(encoding="utf-8")
    countries = Path(str(distribution.locate_file("geotext/data/countryInfo.txt"))).read_text(encoding="utf-8")
    names = {name for line in cities.splitlines() for name in line.split("\t")[1:3]}
    names |= {line.split("\t")[4] for line in countries.splitlines() if line and not line.startswith("#")}
    return {" ".join(name.lower().split()) for name in names if name.strip()}


def _to_json(lexicon: Lexicon) -> dict[str, Any]:
    return {"safe": sorted(lexicon.safe_words), "clinical": sorted(lexicon.clinical_words), "first": sorted(lexicon.first_names),
            "last": sorted(lexicon.last_names), "zipf": lexicon.zipf, "places": sorted(lexicon.places)}


def _from_json(data: dict[str, Any]) -> Lexicon:
    return Lexicon(frozenset(data["safe"]), frozenset(data["clinical"]), frozenset(data["first"]), frozenset(data["last"]),
                   data["zipf"], frozenset(data["places"]))


if __name__ == "__main__":
    built = load_lexicon()
    print(f"lexicon: {len(built.safe_words)} safe words, {len(built.first_names)} first names, "
          f"{len(built.last_names)} surnames, {len(built.places)} place names (cache: {cache_dir()})")
