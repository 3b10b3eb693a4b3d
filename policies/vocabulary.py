"""The entity types the detector reports and the policy packs reference: one list for both."""
from __future__ import annotations

ENTITY_TYPES: tuple[str, ...] = (
    "PERSON", "LOCATION", "STREET_ADDRESS", "ZIP_CODE", "DATE_TIME", "AGE_OVER_89", "PHONE_NUMBER",
    "EMAIL_ADDRESS", "US_SSN", "MEDICAL_RECORD_NUMBER", "HEALTH_PLAN_ID", "ACCOUNT_NUMBER", "LICENSE_NUMBER",
    "NPI", "DEA_NUMBER", "VEHICLE_ID", "DEVICE_ID", "URL", "IP_ADDRESS", "CREDIT_CARD", "CARD_CVV",
    "CARD_EXPIRY", "CARD_TRACK_DATA", "IBAN_CODE", "UK_NHS", "UK_NINO", "EU_NATIONAL_ID", "PASSPORT",
    "UNKNOWN_IDENTIFIER",  # no known shape: found by the recall-first layer and the external-zone rule
)
