"""Geographic subdivisions smaller than a state: street addresses, ZIP/postal codes, "City, ST"."""
from __future__ import annotations

import re

from .base import RuleRecognizer, labelled, rule

US_STATE_CODES = ("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM "
                  "NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR").split()
US_STATE_NAMES = ("Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware",
                  "Florida", "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas", "Kentucky",
                  "Louisiana", "Maine", "Maryland", "Massachusetts", "Michigan", "Minnesota", "Mississippi", "Missouri",
                  "Montana", "Nebraska", "Nevada", "New Hampshire", "New Jersey", "New Mexico", "New York",
                  "North Carolina", "North Dakota", "Ohio", "Oklahoma", "Oregon", "Pennsylvania", "Rhode Island",
                  "South Carolina", "South Dakota", "Tennessee", "Texas", "Utah", "Vermont", "Virginia", "Washington",
                  "West Virginia", "Wisconsin", "Wyoming", "Puerto Rico")
STATE = "(?:" + "|".join(US_STATE_NAMES) + "|" + "|".join(US_STATE_CODES) + ")"
# Credentials after a name that are also state codes ("Jane Roe, MD") need a ZIP to count as a state.
STATE_WITHOUT_ZIP = "(?:" + "|".join(US_STATE_NAMES) + "|" + "|".join(c for c in US_STATE_CODES if c not in ("MD", "PA")) + ")"

STREET_SUFFIXES = ("Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter"
                   "|Circle|Cir|Parkway|Pkwy|Trail|Trl|Highway|Hwy|Square|Sq|Crescent|Cres|Pike|Close|Gardens|Row"
                   "|Alley|Loop|Plaza|Turnpike|Walk|Mews|Green|Grove|Heights|Point|Ridge|Crossing|Expressway"
                   "|Parade|Esplanade|Promenade|Quay|Rise|Park|Vale|Wharf|Broadway|Embankment|Hill|View|Gate")
DIRECTION = r"(?:[ ](?:N|S|E|W|NE|NW|SE|SW)\b\.?)?"  # "Queen Street W" (Canada), "Main St NE"
WORD = r"[A-Z][a-zA-Z'\-]*\.?"
STREET_NAME = rf"(?:(?:{WORD}|\d{{1,3}}(?:st|nd|rd|th))\s+){{1,4}}"
UNIT = r"(?:\s*,?\s*(?:Apt\.?|Apartment|Unit|Suite|Ste\.?|Fl(?:oor)?\.?|Room|Rm\.?|Bldg\.?|#)\s*#?\s*[A-Z0-9\-]{1,6}\b)?"
STREET = rf"\b\d{{1,6}}[A-Z]?\s+{STREET_NAME}(?:{STREET_SUFFIXES})\b\.?{DIRECTION}{UNIT}"
PO_BOX = r"\b(?:P\.?\s?O\.?\s+Box|Post\s+Office\s+Box)\s+\d{1,6}\b"
# Spanish floor and door after the number: "Calle Mayor 11, 8º A" (NFKC reads º as o).
FLOOR = r"(?:,?\s*\d{1,2}\s?[ºª°o]\.?(?:\s?[A-Z]\b)?)?"
EUROPEAN_STREET = (r"\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|weg|platz|gasse|allee|ring|damm|laan|straat|gracht|plein|kade|vej|gatan|gata|veien)\s+\d{1,4}[a-z]?\b"
                   r"|\b(?:Calle|C/|Avenida|Avda\.?|Paseo|Plaza|Camino|Carrer|Rua|Travessa|Largo|Via|Viale|Piazza|Corso|Strada|Rue|Avenue"
                   r"|Boulevard|Chemin|Place|Impasse|ul\.|ulica)\s+(?:[a-zà-ÿ']+\s+){0,3}"
                   r"[A-ZÀ-Þ][\wà-ÿ'\-]+(?:\s+[A-ZÀ-Þ][\wà-ÿ'\-]+){0,3},?\s+\d{1,4}[a-z]?\b" + FLOOR +
                   # French order, the street type in lower case: "18 avenue Jean Jaures", "3 rue de la Paix"
                   r"|\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|av\.|boulevard|bd|place|impasse|chemin|allée|allee|quai|cours|route"
                   r"|passage|square|voie)\s+(?:(?:de|du|des|la|le|l'|d')\s+)*[A-ZÀ-Þ][\wà-ÿ'\-]+(?:\s+[A-ZÀ-Þ][\wà-ÿ'\-]+){0,3}")
US_ZIP = r"\d{5}(?:-\d{4})?"
UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2}"
CITY = r"[A-Z][a-z]+(?:[ \-][A-Z][a-z]+){0,2}"
CITY_CAPS = r"[A-Z]{3,}(?:[ \-][A-Z]{2,}){0,2}"  # "SANTA FE, NM 87501" on forms


def street_address() -> RuleRecognizer:
    return RuleRecognizer("STREET_ADDRESS", [
        rule(STREET, 0.92), rule(PO_BOX, 0.9), rule(EUROPEAN_STREET, 0.88),  # above a name read inside it
    ], "StreetAddressRecognizer")


def zip_code() -> RuleRecognizer:
    return RuleRecognizer("ZIP_CODE", [
        rule(rf"\b{STATE},?\s+(?P<value>{US_ZIP})\b", 0.85),
        # after a street address and a city, the state left out: "5607 Harbor Drive, Savannah 31401"
        rule(rf"(?:{STREET}|{PO_BOX}),?[ \t]*\n?[ \t]*{CITY},?[ \t]+(?P<value>{US_ZIP})\b", 0.85),
        labelled(r"zip(?:\s*code)?|postal\s+code|post\s*code", rf"{US_ZIP}|{UK_POSTCODE}", 0.9),
        rule(rf"\b{UK_POSTCODE}\b", 0.6),
    ], "ZipCodeRecognizer")



def city_state() -> RuleRecognizer:
    """"Springfield, IL 62704", "Boise, Idaho", "12 Mill Road, Leeds": city (and state) are LOCATION."""
    return RuleRecognizer("LOCATION", [
        rule(rf"(?:{STREET}|{PO_BOX}),[ \t]*(?P<value>{CITY})\b(?![ \t]+(?:{STREET_SUFFIXES})\b)", 0.75),
        rule(rf"\b(?P<value>(?:{CITY}|{CITY_CAPS}),?[ \t]+{STATE})(?=,?[ \t]+{US_ZIP}\b)", 0.85),
        rule(rf"\b(?P<value>{CITY},\s+{STATE_WITHOUT_ZIP})\b(?![a-z])", 0.7),
    ], "CityStateRecognizer")


def all_geo() -> list[RuleRecognizer]:
    return [street_address(), zip_code(), city_state()]
