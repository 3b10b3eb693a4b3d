"""HIPAA Safe Harbor identifiers (45 CFR 164.514(b)(2)) that are numbers or codes.

Free-form record numbers (MRN, member id, account, licence, serial, plate) have no shape of their
own, so they are found by their label; identifiers with a check digit (NPI, DEA, VIN, IMEI) or a
fixed layout (MBI, MAC address, GS1 UDI) are also found without one.
"""
from __future__ import annotations

import re

from .. import checksums as cs
from .base import RuleRecognizer, checked, compact, labelled, rule, value_of, with_digits

# A free-form identifier: 4-31 letters/digits, single inner separators allowed.
ID = r"[A-Za-z0-9](?:[A-Za-z0-9]|[-./](?=[A-Za-z0-9])){3,30}"

MRN_LABELS = (r"MRN|MR\s*#|MR\s+no|medical\s+record(?:\s+(?:number|no|#))?|med(?:ical)?\s*rec(?:ord)?\.?|chart(?:\s*#)?"
              r"|patient\s+(?:ID|identifier|number)|hospital\s+(?:number|no|ID)|unit\s+(?:number|no)|record\s*#"
              r"|EMR\s*(?:#|ID)?|EHR\s*(?:#|ID)?|MPI|enterprise\s+ID|case\s+(?:number|no|#)")
HEALTH_PLAN_LABELS = (r"member\s*(?:ID|#|number|no)|subscriber\s*(?:ID|#|number|no)|insured'?s?\s+(?:ID|I\.D\.)"
                      r"|policy\s*(?:ID|#|number|no)|insurance\s*(?:ID|#|number|no)|(?:health\s+)?plan\s*(?:ID|#|number)"
                      r"|group\s*(?:ID|#|number|no)|policy\s+group(?:\s+or\s+FECA\s+number)?"
                      r"|medicare\s+beneficiary\s+identifier|medicaid(?:\s*(?:ID|#|number|no))?"
                      r"|medicare(?:\s*(?:ID|#|number|no))?|MBI|HICN|beneficiary\s+(?:ID|identifier|number)|Rx\s*(?:ID|group)")
ACCOUNT_LABELS = (r"account(?:\s*(?:#|number|no))?|acct\.?|a/c|routing(?:\s*(?:#|number|no))?|ABA|billing\s+(?:ID|number)"
                  r"|invoice\s*(?:#|number|no)|guarantor\s*(?:ID|#)|sort\s+code|encounter\s*(?:#|number|ID)"
                  r"|visit\s*(?:#|number|ID)|claim\s*(?:#|number|no)|transaction\s*(?:ID|#)")
LICENSE_LABELS = (r"licen[cs]e(?!\s+plate)(?:\s*(?:#|number|no))?|lic\.?|DL|driver'?s?\s+licen[cs]e|driving\s+licen[cs]e"
                  r"|certificate(?:\s*(?:#|number|no))?|cert\.?\s*#|GMC|NMC|HCPC|board\s+certification"
                  r"|permit(?:\s*(?:#|number|no))?|registration\s+(?:#|number|no)")
PLATE_LABELS = (r"(?:license|licence|number|registration|reg\.?)\s+plate|plate(?:\s*(?:#|number|no))?|(?<![Aa]sset\s)tag"
                r"|vehicle\s+registration(?:\s+(?:number|no|mark))?|reg\.?\s+(?:no|number|mark)")
VIN_LABELS = r"VIN|vehicle\s+identification\s+(?:number|no)|chassis\s+(?:number|no)"
DEVICE_LABELS = (r"serial(?:\s*(?:#|number|no))?|S/N|SN|device\s*(?:ID|identifier|#|serial)|UDI|IMEI|MEID|ESN"
                 r"|asset\s*(?:tag|#|ID)|(?:wi-?fi\s+)?MAC(?:\s+address)?|bluetooth\s+(?:address|ID)|implant\s*(?:ID|#)"
                 r"|equipment\s*(?:ID|#)|hardware\s+ID")
SSN_LABELS = r"SSN|SS\s*#|social\s+security(?:\s+(?:number|no|#))?|soc\.?\s+sec\.?|(?:federal\s+)?tax\s+ID(?:\s*/\s*SSN)?|TIN|ITIN"

MAC = r"(?i:\b[0-9A-F]{2}(?P<mac_sep>[:-])[0-9A-F]{2}(?:(?P=mac_sep)[0-9A-F]{2}){4}\b)"
UDI = r"\(01\)\d{14}(?:\(\d{2,4}\)[A-Za-z0-9\-]{1,20})*"
MBI = r"\b[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d-?[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d-?[AC-HJKMNP-RT-Y]{2}\d{2}\b"
SSN = r"\d{3}(?P<ssn_sep>[- ]?)\d{2}(?P=ssn_sep)\d{4}"
AGE = r"(?P<value>9\d|1[01]\d)"


def is_valid_ssn(number: str) -> bool:
    """Issuable SSN: not area 000/666/9xx, group 00 or serial 0000, nor a well-known dummy."""
    if len(number) != 9 or not number.isdigit() or len(set(number)) == 1:
        return False
    area, group, serial = number[:3], number[3:5], number[5:]
    return (area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"
            and number not in ("123456789", "078051120", "219099999"))


def _vin_score(match: re.Match[str]) -> float | None:
    return 0.9 if cs.is_valid_vin(value_of(match)) else None


def _labelled_vin_score(match: re.Match[str]) -> float:
    return 0.95 if cs.is_valid_vin(value_of(match)) else 0.65  # VINs outside North America carry no check digit


def _plate_score(match: re.Match[str]) -> float | None:
    value = compact(value_of(match))
    return 0.85 if len(value) >= 4 and any(c.isdigit() for c in value) else None


def _mixed_plate_score(match: re.Match[str]) -> float | None:
    """After "vehicle" only letters with digits count: "Vehicle: 2008 Toyota" is a model year."""
    value = compact(value_of(match))
    return 0.8 if any(c.isdigit() for c in value) and any(c.isalpha() for c in value) else None


def mrn() -> RuleRecognizer:
    return RuleRecognizer("MEDICAL_RECORD_NUMBER", [labelled(MRN_LABELS, ID, with_digits(4, 0.85))], "MedicalRecordNumberRecognizer")


def health_plan() -> RuleRecognizer:
    return RuleRecognizer("HEALTH_PLAN_ID", [
        labelled(HEALTH_PLAN_LABELS, ID, with_digits(3, 0.85)),
        labelled(r"group", ID, with_digits(5, 0.75)),  # bare "group" also reads "age group 65-74": more digits
        rule(MBI, 0.7),
    ], "HealthPlanIdRecognizer")


def account() -> RuleRecognizer:
    return RuleRecognizer("ACCOUNT_NUMBER", [labelled(ACCOUNT_LABELS, ID, with_digits(5, 0.8))], "AccountNumberRecognizer")


def license_number() -> RuleRecognizer:
    return RuleRecognizer("LICENSE_NUMBER", [labelled(LICENSE_LABELS, ID, with_digits(4, 0.8))], "LicenseNumberRecognizer")


def npi() -> RuleRecognizer:
    return RuleRecognizer("NPI", [
        rule(r"\b[12]\d{9}\b", checked(cs.is_valid_npi, 0.45)),
        labelled(r"NPI|national\s+provider\s+identifier", r"[12]\d{9}", checked(cs.is_valid_npi, 0.95)),
        # a valid NPI with its label earlier on the same line: "NPI (type 1, individual) 1234567893"
        rule(rf"(?i:\bNPI\b)[^\n]{{0,60}}?\b(?P<value>[12]\d{{9}})\b", checked(cs.is_valid_npi, 0.9)),
    ], "NpiRecognizer")


def dea() -> RuleRecognizer:
    return RuleRecognizer("DEA_NUMBER", [rule(r"\b[A-Z][A-Z9]\d{7}\b", checked(cs.is_valid_dea, 0.9))], "DeaNumberRecognizer")


def vehicle() -> RuleRecognizer:
    vin = r"[A-HJ-NPR-Z0-9]{17}"
    return RuleRecognizer("VEHICLE_ID", [
        rule(rf"\b{vin}\b", _vin_score),
        labelled(VIN_LABELS, vin, _labelled_vin_score),
        labelled(PLATE_LABELS, r"[A-Z0-9]{1,8}(?:[- ](?!VIN\b)[A-Z0-9]{1,4}){0,2}", _plate_score),
        rule(r"\b[A-Z]{2}\d{2}[ ]?[A-Z]{3}\b", 0.6),  # a UK registration mark: "RA33 GOW"
        labelled(r"vehicle(?!\s+identification)", r"[A-Z0-9]{2,8}(?:[- ][A-Z0-9]{1,4})?", _mixed_plate_score),  # "Vehicle 7ABC123"
    ], "VehicleIdRecognizer")


def device() -> RuleRecognizer:
    return RuleRecognizer("DEVICE_ID", [
        rule(MAC, 0.85),
        rule(UDI, 0.9),
        labelled(DEVICE_LABELS, rf"{UDI}|{ID}", with_digits(3, 0.85)),
        rule(r"\b\d{15}\b", checked(cs.is_luhn_valid, 0.4)),  # IMEI without its label
    ], "DeviceIdRecognizer")


def ssn() -> RuleRecognizer:
    return RuleRecognizer("US_SSN", [
        labelled(SSN_LABELS, SSN, checked(is_valid_ssn, 0.95)),
        rule(r"\b\d{3}-\d{2}-\d{4}\b", checked(is_valid_ssn, 0.7)),
        rule(r"\b\d{3} \d{2} \d{4}\b", checked(is_valid_ssn, 0.45)),
    ], "UsSsnRecognizer")


def age_over_89() -> RuleRecognizer:
    """"92-year-old", "92 yrs old", "92 yo", "92yoF", "92 YOM", "92 y/o", "92-yo", "aged 92", "age: 92"."""
    return RuleRecognizer("AGE_OVER_89", [
        rule(rf"\b{AGE}\s*(?:-\s*|\s)(?:year|yr)s?(?:\s*-\s*|\s)old\b", 0.9, re.I),
        rule(rf"\b{AGE}[ \t]*-?[ \t]*(?:y/o|y\.o\.?|yo|years?[ \t]+of[ \t]+age|(?:years?|yrs?)[ \t]+old)(?:[ \t]*[FM])?(?![A-Za-z])",
             0.9, re.I),
        rule(rf"\b(?:age|aged)\s*[:=]?\s*{AGE}\b", 0.85, re.I),
    ], "AgeOver89Recognizer")


def all_hipaa() -> list[RuleRecognizer]:
    return [mrn(), health_plan(), account(), license_number(), npi(), dea(), vehicle(), device(), ssn(), age_over_89()]

