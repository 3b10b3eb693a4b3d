"""Presidio's entity names in our vocabulary (policies/vocabulary.py)."""
from __future__ import annotations

from policies.vocabulary import ENTITY_TYPES

# Entity names of stock presidio recognizers, mapped into our vocabulary (absent names are dropped:
# NRP, ORGANIZATION, crypto wallets, ...). Used to score stock presidio on our labels.
PRESIDIO_TO_VOCABULARY: dict[str, str] = {
    **{name: name for name in ENTITY_TYPES},
    "US_BANK_NUMBER": "ACCOUNT_NUMBER",
    "US_DRIVER_LICENSE": "LICENSE_NUMBER",
    "MEDICAL_LICENSE": "DEA_NUMBER",
    "US_PASSPORT": "PASSPORT",
    "US_ITIN": "US_SSN",
    "US_MBI": "HEALTH_PLAN_ID",
    "US_NPI": "NPI",
    "MAC_ADDRESS": "DEVICE_ID",
    "ES_NIF": "EU_NATIONAL_ID",
    "ES_NIE": "EU_NATIONAL_ID",
    "IT_FISCAL_CODE": "EU_NATIONAL_ID",
    "IT_IDENTITY_CARD": "EU_NATIONAL_ID",
    "IT_DRIVER_LICENSE": "LICENSE_NUMBER",
    "IT_PASSPORT": "PASSPORT",
    "PL_PESEL": "EU_NATIONAL_ID",
}
