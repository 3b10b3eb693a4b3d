"""The words the detector, the policy packs and the appliance share, each defined once here.

Entity types (what the detector reports and the packs' classes list), zones (where a text may go),
directions, purposes of use and actions; and stock presidio's entity names in these terms.
"""
from __future__ import annotations

from typing import Literal, get_args

ENTITY_TYPES: tuple[str, ...] = (
    "PERSON", "LOCATION", "STREET_ADDRESS", "ZIP_CODE", "DATE_TIME", "AGE_OVER_89", "PHONE_NUMBER",
    "EMAIL_ADDRESS", "US_SSN", "MEDICAL_RECORD_NUMBER", "HEALTH_PLAN_ID", "ACCOUNT_NUMBER", "LICENSE_NUMBER",
    "NPI", "DEA_NUMBER", "VEHICLE_ID", "DEVICE_ID", "URL", "IP_ADDRESS", "CREDIT_CARD", "CARD_CVV",
    "CARD_EXPIRY", "CARD_TRACK_DATA", "IBAN_CODE", "UK_NHS", "UK_NINO", "EU_NATIONAL_ID", "PASSPORT",
    "UNKNOWN_IDENTIFIER",  # no known shape: found by the recall-first layer and the external-zone rule
)

Zone = Literal["local", "internal", "external"]  # where a text goes: this machine, the facility, outside it
ZONES: tuple[Zone, ...] = get_args(Zone)
Direction = Literal["prompt", "response"]
DIRECTIONS: tuple[Direction, ...] = get_args(Direction)
Action = Literal["allow", "redact", "block"]  # in rising order of restriction
ACTIONS: tuple[Action, ...] = get_args(Action)
PURPOSES: tuple[str, ...] = ("treatment", "payment", "operations", "billing", "research")  # purposes of use

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
