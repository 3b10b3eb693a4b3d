"""Synthetic identifier values for the detection evaluation set (all fictional, seeded).

`Synth.render(template)` fills `{slot}` markers and returns the text with gold character spans. Each
slot yields one or more (text, entity_type | None) segments; persona slots (`pt`, `dr`, `rel`, ...)
stay consistent within one document, every other slot draws a fresh value.
"""
from __future__ import annotations

import random
import re
import string
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from policies.detect import checksums as cs  # noqa: E402

Segment = tuple[str, "str | None"]
_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Pools:
    """Names and places of one split; the held-out split uses disjoint pools."""

    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    us_places: tuple[tuple[str, str], ...]  # (city, state code)
    streets: tuple[str, ...]
    street_suffixes: tuple[str, ...]
    uk_cities: tuple[str, ...]
    eu_cities: tuple[str, ...]
    email_domains: tuple[str, ...]
    web_hosts: tuple[str, ...]


@dataclass
class Person:
    first: str
    middle: str
    last: str


STATE_NAMES = {
    "MA": "Massachusetts", "IL": "Illinois", "TX": "Texas", "AZ": "Arizona", "WA": "Washington", "CO": "Colorado",
    "GA": "Georgia", "FL": "Florida", "OR": "Oregon", "TN": "Tennessee", "OH": "Ohio", "MD": "Maryland",
    "WI": "Wisconsin", "NM": "New Mexico", "CA": "California", "NE": "Nebraska", "NC": "North Carolina",
    "VT": "Vermont", "OK": "Oklahoma", "ID": "Idaho", "KY": "Kentucky", "VA": "Virginia", "RI": "Rhode Island",
    "CT": "Connecticut", "IA": "Iowa", "AR": "Arkansas", "AK": "Alaska", "HI": "Hawaii", "NV": "Nevada",
    "KS": "Kansas", "NY": "New York", "MN": "Minnesota", "MI": "Michigan", "PA": "Pennsylvania",
}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
CARD_PREFIXES = (("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("6011", 16), ("65", 16),
                 ("34", 15), ("37", 15), ("3530", 16))
IBAN_BBAN = {  # country: per-character kinds of the BBAN (n digit, a letter, c alphanumeric)
    "DE": "n" * 18, "GB": "aaaa" + "n" * 14, "FR": "n" * 10 + "c" * 11 + "nn", "ES": "n" * 20,
    "NL": "aaaa" + "n" * 10, "IT": "a" + "n" * 10 + "c" * 12, "BE": "n" * 12, "AT": "n" * 16,
    "IE": "aaaa" + "n" * 14, "PL": "n" * 24, "PT": "n" * 21, "CH": "n" * 5 + "c" * 12,
}


class Synth:
    # Persona slots: `{role}` or `{role_form}`; a split's subclass may widen the roles and forms.
    PERSONA_SLOT = re.compile(r"(pt|dr|dr2|rel|rel2|nurse)(?:_(first|last|full|lastfirst|formal))?")

    def __init__(self, rng: random.Random, pools: Pools) -> None:
        self.rng = rng
        self.pools = pools
        self.personas: dict[str, Person] = {}

    # ---- rendering -------------------------------------------------------------------------
    def render(self, template: str) -> tuple[str, list[dict[str, object]]]:
        self.personas = {}
        text_parts: list[str] = []
        spans: list[dict[str, object]] = []
        offset = 0
        position = 0
        for match in _SLOT.finditer(template):
            literal = template[position:match.start()]
            text_parts.append(literal)
            offset += len(literal)
            for value, label in self.slot(match.group(1)):
                if label is not None:
                    spans.append({"start": offset, "end": offset + len(value), "entity_type": label})
                text_parts.append(value)
                offset += len(value)
            position = match.end()
        text_parts.append(template[position:])
        return "".join(text_parts), spans

    def slot(self, name: str) -> list[Segment]:
        persona_slot = self.PERSONA_SLOT.fullmatch(name)
        if persona_slot:
            return [(self._name(persona_slot.group(1), persona_slot.group(2) or "any"), "PERSON")]
        produced = getattr(self, f"s_{name}")()
        return produced if isinstance(produced, list) else [produced]

    # ---- helpers ---------------------------------------------------------------------------
    def pick(self, items):
        return self.rng.choice(items)

    def digits(self, n: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    def letters(self, n: int, alphabet: str = string.ascii_uppercase) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def person(self, role: str) -> Person:
        if role not in self.personas:
            self.personas[role] = Person(
                self.pick(self.pools.first_names), self.pick(string.ascii_uppercase), self.pick(self.pools.last_names)
            )
        return self.personas[role]

    def _name(self, role: str, form: str) -> str:
        p = self.person(role)
        if form == "first":
            return p.first
        if form == "last":
            return p.last
        if form == "full":
            return f"{p.first} {p.last}"
        if form == "lastfirst":
            return self.pick([f"{p.last}, {p.first}", f"{p.last.upper()}, {p.first}", f"{p.last}, {p.first} {p.middle}."])
        if form == "formal":
            return self.pick([f"{p.first} {p.middle}. {p.last}", f"{p.first} {p.last}"])
        return self.pick([f"{p.first} {p.last}"] * 5 + [f"{p.first} {p.middle}. {p.last}"] * 2 + [f"{p.last}, {p.first}"])

    def _date(self, first_year: int, last_year: int) -> str:
        year = self.rng.randint(first_year, last_year)
        month = self.rng.randint(1, 12)
        day = self.rng.randint(1, 28)
        name = MONTHS[month - 1]
        return self.pick([
            f"{month:02d}/{day:02d}/{year}", f"{month}/{day}/{year}", f"{month}/{day}/{year % 100:02d}",
            f"{year}-{month:02d}-{day:02d}", f"{day:02d}.{month:02d}.{year}", f"{name} {day}, {year}",
            f"{day} {name} {year}", f"{name[:3]} {day}, {year}", f"{day:02d}-{name[:3]}-{year}",
            f"{name[:3]}. {day}, {year}",
        ])

    # ---- dates and ages ----------------------------------------------------------------------
    def s_dob(self) -> Segment:
        return self._date(1921, 2006), "DATE_TIME"

    def s_date(self) -> Segment:
        return self._date(2016, 2025), "DATE_TIME"

    s_adm = s_dis = s_dod = s_date

    def s_age90(self) -> Segment:
        return str(self.rng.randint(90, 104)), "AGE_OVER_89"

    def s_age(self) -> Segment:
        return str(self.rng.randint(19, 84)), None

    # ---- places ------------------------------------------------------------------------------
    def s_addr(self) -> Segment:
        number = str(self.rng.randint(2, 9899))
        street = f"{number} {self.pick(self.pools.streets)} {self.pick(self.pools.street_suffixes)}"
        unit = self.pick(["", "", "", f", Apt {self.rng.randint(1, 40)}{self.pick('ABCD')}", f" Unit {self.rng.randint(1, 300)}",
                          f", Suite {self.rng.randint(100, 950)}", f" #{self.rng.randint(2, 99)}"])
        if self.rng.random() < 0.08:
            return f"P.O. Box {self.rng.randint(10, 9999)}", "STREET_ADDRESS"
        return street + unit, "STREET_ADDRESS"

    def _place(self) -> tuple[str, str]:
        if "place" not in self.personas:
            self.personas["place"] = self.pick(self.pools.us_places)  # type: ignore[assignment]
        return self.personas["place"]  # type: ignore[return-value]

    def s_city(self) -> Segment:
        return self._place()[0], "LOCATION"

    def s_state(self) -> Segment:
        code = self._place()[1]
        return self.pick([code, code, STATE_NAMES.get(code, code)]), "LOCATION"

    def s_zip(self) -> Segment:
        return self.pick([self.digits(5), self.digits(5), f"{self.digits(5)}-{self.digits(4)}"]), "ZIP_CODE"

    def s_city_line(self) -> list[Segment]:
        city, code = self._place()
        return [(city, "LOCATION"), (", ", None), (code, "LOCATION"), (" ", None), self.s_zip()]

    def s_uk_addr(self) -> list[Segment]:
        street = f"{self.rng.randint(1, 240)} {self.pick(self.pools.streets)} {self.pick(['Road', 'Street', 'Lane', 'Close', 'Gardens'])}"
        return [(street, "STREET_ADDRESS"), (", ", None), (self.pick(self.pools.uk_cities), "LOCATION"), (" ", None),
                self.s_postcode()]

    def s_postcode(self) -> Segment:
        outward = self.pick([f"{self.letters(2)}{self.rng.randint(1, 20)}", f"{self.letters(1)}{self.rng.randint(1, 9)}",
                             f"{self.letters(2)}{self.rng.randint(1, 9)}{self.letters(1)}"])
        return f"{outward} {self.rng.randint(1, 9)}{self.letters(2, 'ABDEFGHJLNPQRSTUWXYZ')}", "ZIP_CODE"

    def s_eu_city(self) -> Segment:
        return self.pick(self.pools.eu_cities), "LOCATION"

    def s_uk_city(self) -> Segment:
        return self.pick(self.pools.uk_cities), "LOCATION"

    def s_country(self) -> Segment:
        return self.pick(["Portugal", "Germany", "Nigeria", "Vietnam", "Mexico", "Poland", "Ireland", "Canada", "Brazil",
                          "Japan", "Egypt", "Italy"]), "LOCATION"

    # ---- contact ----------------------------------------------------------------------------
    def s_phone(self) -> Segment:
        area, exchange, line = f"{self.rng.randint(2, 9)}{self.digits(2)}", f"{self.rng.randint(2, 9)}{self.digits(2)}", self.digits(4)
        return self.pick([f"({area}) {exchange}-{line}", f"{area}-{exchange}-{line}", f"{area}.{exchange}.{line}",
                          f"+1 {area} {exchange} {line}", f"1-{area}-{exchange}-{line}", f"({area}){exchange}-{line}",
                          f"+1-{area}-{exchange}-{line}"]), "PHONE_NUMBER"

    s_fax = s_phone

    def s_intl_phone(self) -> Segment:
        return self.pick([f"+44 20 {self.digits(4)} {self.digits(4)}", f"07{self.digits(3)} {self.digits(6)}",
                          f"020 {self.digits(4)} {self.digits(4)}", f"+49 30 {self.digits(7)}",
                          f"+33 1 {self.digits(2)} {self.digits(2)} {self.digits(2)} {self.digits(2)}",
                          f"+34 9{self.digits(2)} {self.digits(3)} {self.digits(3)}", f"+31 20 {self.digits(3)} {self.digits(4)}",
                          f"+39 02 {self.digits(4)} {self.digits(4)}"]), "PHONE_NUMBER"

    def s_email(self) -> Segment:
        p = Person(self.pick(self.pools.first_names), "", self.pick(self.pools.last_names))
        first = p.first.lower()
        last = re.sub(r"[^a-z]", "", p.last.lower().replace("ü", "u"))
        local = self.pick([f"{first}.{last}", f"{first[0]}{last}", f"{first}_{last}{self.rng.randint(1, 99)}",
                           f"{last}.{first[0]}", f"{first}{self.rng.randint(1950, 2005)}"])
        return f"{local}@{self.pick(self.pools.email_domains)}", "EMAIL_ADDRESS"

    s_email2 = s_email

    def s_url(self) -> Segment:
        host = self.pick(self.pools.web_hosts)
        return self.pick([f"https://{host}/patient/{self.digits(6)}", f"https://{host}/portal/login",
                          f"www.{host}", f"http://{host}/records?id={self.digits(5)}", f"https://{host}/visit/{self.letters(6).lower()}",
                          f"https://telehealth.{host}/room/{self.digits(4)}-{self.letters(3).lower()}"]), "URL"

    def s_ip(self) -> Segment:
        if self.rng.random() < 0.2:
            return self.pick(["2001:db8:85a3::8a2e:370:7334", f"fe80::{self.rng.randint(4096, 65535):x}:{self.rng.randint(4096, 65535):x}",
                              f"2600:1f18:{self.rng.randint(4096, 65535):x}:{self.rng.randint(4096, 65535):x}::1"]), "IP_ADDRESS"
        first = self.pick([10, 172, 192, 24, 66, 73, 98, 203, 81])
        return f"{first}.{self.rng.randint(0, 255)}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}", "IP_ADDRESS"

    # ---- US identifiers ------------------------------------------------------------------
    def s_ssn(self) -> Segment:
        area = self.pick([n for n in range(1, 900) if n != 666])
        a, g, s = f"{area:03d}", f"{self.rng.randint(1, 99):02d}", f"{self.rng.randint(1, 9999):04d}"
        return self.pick([f"{a}-{g}-{s}"] * 3 + [f"{a} {g} {s}", f"{a}{g}{s}"]), "US_SSN"

    def s_mrn(self) -> Segment:
        return self.pick([self.digits(7), self.digits(8), f"00{self.digits(6)}", f"{self.letters(1)}{self.digits(7)}",
                          f"MR{self.digits(6)}", f"{self.digits(2)}-{self.digits(2)}-{self.digits(4)}",
                          f"{self.digits(3)}-{self.digits(4)}"]), "MEDICAL_RECORD_NUMBER"

    def s_hpid(self) -> Segment:
        return self.pick([f"{self.letters(3)}{self.digits(9)}", f"W{self.digits(9)}", f"{self.letters(3)}-{self.digits(4)}-{self.digits(4)}",
                          f"{self.digits(9)}-{self.digits(2)}", f"{self.letters(2)}{self.digits(8)}"]), "HEALTH_PLAN_ID"

    def s_mbi(self) -> Segment:
        letters = "ACDEFGHJKMNPQRTUVWXY"
        alnum = letters + string.digits
        value = (f"{self.rng.randint(1, 9)}{self.pick(letters)}{self.pick(alnum)}{self.rng.randint(0, 9)}"
                 f"{self.pick(letters)}{self.pick(alnum)}{self.rng.randint(0, 9)}{self.pick(letters)}{self.pick(letters)}"
                 f"{self.rng.randint(0, 9)}{self.rng.randint(0, 9)}")
        return self.pick([value, f"{value[:4]}-{value[4:7]}-{value[7:]}"]), "HEALTH_PLAN_ID"

    def s_group(self) -> Segment:
        return self.pick([f"GRP-{self.digits(5)}", self.digits(6), f"{self.letters(1)}{self.digits(5)}"]), "HEALTH_PLAN_ID"

    def s_acct(self) -> Segment:
        return self.pick([self.digits(9), f"ACC-{self.digits(8)}", f"{self.digits(4)}-{self.digits(4)}-{self.digits(2)}",
                          self.digits(12), f"{self.letters(2)}{self.digits(7)}"]), "ACCOUNT_NUMBER"

    def s_routing(self) -> Segment:
        return self.digits(9), "ACCOUNT_NUMBER"

    def s_lic(self) -> Segment:
        return self.pick([f"MD{self.digits(6)}", f"{self.letters(1)}{self.digits(6)}", f"RN{self.digits(6)}",
                          f"{self.letters(1)}-{self.digits(5)}", f"{self.digits(2)}-{self.digits(6)}"]), "LICENSE_NUMBER"

    def s_dl(self) -> Segment:
        return self.pick([f"{self.letters(1)}{self.digits(7)}", f"{self.letters(1)}{self.digits(3)}-{self.digits(4)}-{self.digits(4)}",
                          self.digits(9), f"{self.letters(1)}{self.digits(12)}", f"{self.letters(2)}{self.digits(6)}"]), "LICENSE_NUMBER"

    def s_npi(self) -> Segment:
        first_nine = self.pick("12") + self.digits(8)
        return first_nine + str(cs.npi_check(first_nine)), "NPI"

    def s_dea(self) -> Segment:
        six = self.digits(6)
        return f"{self.pick(cs.DEA_REGISTRANT_LETTERS)}{self.pick(string.ascii_uppercase)}{six}{cs.dea_check(six)}", "DEA_NUMBER"

    def s_vin(self) -> Segment:
        alphabet = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
        body = [self.pick(alphabet) for _ in range(17)]
        body[0] = self.pick("12345JKLSTVWYZ")
        body[9] = self.pick("GHJKLMNPRS")  # model year
        for i in range(12, 17):
            body[i] = self.pick(string.digits)
        body[8] = "0"
        body[8] = cs.vin_check("".join(body))
        return "".join(body), "VEHICLE_ID"

    def s_plate(self) -> Segment:
        return self.pick([f"{self.rng.randint(1, 9)}{self.letters(3)}{self.digits(3)}", f"{self.letters(3)}-{self.digits(4)}",
                          f"{self.letters(2)}{self.digits(2)} {self.letters(3)}", f"{self.letters(3)} {self.digits(3)}",
                          f"{self.letters(1)}-{self.letters(2)} {self.digits(4)}"]), "VEHICLE_ID"

    def s_serial(self) -> Segment:
        return self.pick([f"{self.letters(3)}{self.digits(6)}{self.letters(1)}", f"SN-{self.digits(4)}-{self.letters(2)}{self.digits(2)}",
                          f"{self.digits(4)}-{self.letters(2)}-{self.digits(4)}", f"{self.letters(2)}{self.digits(8)}",
                          f"{self.digits(3)}{self.letters(1)}{self.digits(5)}"]), "DEVICE_ID"

    def s_mac(self) -> Segment:
        sep = self.pick(":-")
        return sep.join(f"{self.rng.randint(0, 255):02X}" for _ in range(6)), "DEVICE_ID"

    def s_imei(self) -> Segment:
        body = f"35{self.digits(12)}"
        return body + str(cs.luhn_check(body)), "DEVICE_ID"

    def s_udi(self) -> Segment:
        return f"(01){self.digits(14)}(17){self.digits(6)}(21){self.letters(3)}{self.digits(4)}", "DEVICE_ID"

    # ---- card data ----------------------------------------------------------------------------
    def _pan(self) -> str:
        prefix, length = self.pick(CARD_PREFIXES)
        body = prefix + self.digits(length - len(prefix) - 1)
        return body + str(cs.luhn_check(body))

    def s_cc(self) -> Segment:
        pan = self._pan()
        if len(pan) == 15:
            grouped = f"{pan[:4]} {pan[4:10]} {pan[10:]}"
        else:
            grouped = " ".join(pan[i:i + 4] for i in range(0, 16, 4))
        return self.pick([grouped, grouped, grouped.replace(" ", "-"), pan]), "CREDIT_CARD"

    def s_cvv(self) -> Segment:
        return self.digits(self.pick([3, 3, 3, 4])), "CARD_CVV"

    def s_exp(self) -> Segment:
        month, year = self.rng.randint(1, 12), self.rng.randint(2025, 2031)
        return self.pick([f"{month:02d}/{year % 100}", f"{month:02d}/{year}", f"{month}/{year % 100}", f"{month:02d}-{year % 100}"]), "CARD_EXPIRY"

    def s_track1(self) -> Segment:
        p = self.person("pt")
        return f"%B{self._pan()}^{p.last.upper()}/{p.first.upper()}^{self.rng.randint(26, 31)}{self.rng.randint(1, 12):02d}101{self.digits(12)}?", "CARD_TRACK_DATA"

    def s_track2(self) -> Segment:
        return f";{self._pan()}={self.rng.randint(26, 31)}{self.rng.randint(1, 12):02d}101{self.digits(10)}?", "CARD_TRACK_DATA"

    # ---- European identifiers -------------------------------------------------------------
    def s_iban(self) -> Segment:
        country = self.pick(list(IBAN_BBAN))
        kinds = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}
        bban = "".join(self.pick(kinds[k]) for k in IBAN_BBAN[country])
        iban = country + cs.iban_check(country, bban) + bban
        return self.pick([iban, " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))]), "IBAN_CODE"

    def s_nhs(self) -> Segment:
        while True:
            nine = self.pick("4679") + self.digits(8)
            check = cs.nhs_check(nine)
            if check is not None:
                break
        number = nine + str(check)
        return self.pick([f"{number[:3]} {number[3:6]} {number[6:]}"] * 2 + [number, f"{number[:3]}-{number[3:6]}-{number[6:]}"]), "UK_NHS"

    def s_nino(self) -> Segment:
        first = self.pick("ABCEGHJKLMNOPRSTWXYZ")
        second = self.pick("ABCEGHJKLMNPRSTWXYZ")
        d = self.digits(6)
        suffix = self.pick("ABCD")
        return self.pick([f"{first}{second}{d}{suffix}", f"{first}{second} {d[:2]} {d[2:4]} {d[4:]} {suffix}"]), "UK_NINO"

    def s_dni(self) -> Segment:
        number = self.rng.randint(10000000, 99999999)
        return self.pick([f"{number}{cs.dni_letter(number)}", f"{number}-{cs.dni_letter(number)}"]), "EU_NATIONAL_ID"

    def s_nie(self) -> Segment:
        prefix = self.pick("XYZ")
        body = self.digits(7)
        return f"{prefix}{body}{cs.dni_letter(int(str('XYZ'.index(prefix)) + body))}", "EU_NATIONAL_ID"

    def s_cf(self) -> Segment:
        first15 = (self.letters(6) + self.digits(2) + self.pick("ABCDEHLMPRST") + f"{self.rng.randint(1, 71):02d}"
                   + self.letters(1) + self.digits(3))
        return first15 + cs.codice_fiscale_check(first15), "EU_NATIONAL_ID"

    def s_nir(self) -> Segment:
        body = f"{self.pick('12')}{self.digits(2)}{self.rng.randint(1, 12):02d}{self.rng.randint(1, 95):02d}{self.digits(3)}{self.digits(3)}"
        key = f"{cs.nir_key(body):02d}"
        return self.pick([body + key, f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:13]} {key}"]), "EU_NATIONAL_ID"

    def s_steuer(self) -> Segment:
        ten = str(self.rng.randint(1, 9)) + self.digits(9)
        number = ten + str(cs.steuer_id_check(ten))
        return self.pick([number, f"{number[:2]} {number[2:5]} {number[5:8]} {number[8:]}"]), "EU_NATIONAL_ID"

    def s_bsn(self) -> Segment:
        while True:
            number = self.digits(9)
            if number[0] != "0" and cs.bsn_is_eleven_proof(number):
                return self.pick([number, f"{number[:4]}.{number[4:6]}.{number[6:]}"]), "EU_NATIONAL_ID"

    def s_pesel(self) -> Segment:
        ten = f"{self.rng.randint(40, 99)}{self.rng.randint(1, 12):02d}{self.rng.randint(1, 28):02d}{self.digits(4)}"
        return ten + str(cs.pesel_check(ten)), "EU_NATIONAL_ID"

    def s_passport(self) -> Segment:
        return self.pick([self.digits(9), f"{self.letters(1)}{self.digits(8)}", f"{self.letters(2)}{self.digits(7)}",
                          f"{self.letters(1)}{self.digits(7)}"]), "PASSPORT"

    # ---- benign clinical filler (never labelled) --------------------------------------------
    def s_drug(self) -> Segment:
        return self.pick(["metformin", "lisinopril", "atorvastatin", "Lasix", "furosemide", "Eliquis", "apixaban", "warfarin",
                          "Keppra", "levetiracetam", "insulin glargine", "Lantus", "amoxicillin-clavulanate", "Zosyn",
                          "vancomycin", "ceftriaxone", "prednisone", "albuterol", "Symbicort", "omeprazole", "Protonix",
                          "sertraline", "Zoloft", "gabapentin", "tramadol", "oxycodone", "acetaminophen", "Tylenol",
                          "ondansetron", "Zofran", "heparin", "enoxaparin", "Lovenox", "losartan", "amlodipine",
                          "Norvasc", "hydrochlorothiazide", "metoprolol succinate", "Toprol XL", "Synthroid",
                          "levothyroxine", "donepezil", "Aricept", "Humira", "Ozempic", "semaglutide", "Jardiance"]), None

    def s_dose(self) -> Segment:
        return self.pick(["500 mg", "1000 mg", "10 mg", "20 mg", "40 mg", "0.5 mg", "5 mg/kg", "2 puffs", "1 tab",
                          "12 units", "81 mg", "25 mcg", "1 g", "4 mg IV", "30 mL", "0.4 mg SL"]), None

    def s_freq(self) -> Segment:
        return self.pick(["BID", "TID", "QID", "daily", "once daily", "q6h", "q8h PRN", "at bedtime", "QHS", "every other day",
                          "twice a day", "PRN pain", "weekly", "q4-6h as needed", "with meals"]), None

    def s_dur(self) -> Segment:
        return self.pick(["3 days", "2 weeks", "10 days", "6 months", "48 hours", "several weeks", "1 year", "the past month",
                          "5 days", "two days", "72 hours", "3-4 weeks"]), None

    def s_vital(self) -> Segment:
        return self.pick([f"BP {self.rng.randint(95, 170)}/{self.rng.randint(55, 100)}", f"HR {self.rng.randint(50, 130)}",
                          f"RR {self.rng.randint(12, 28)}", f"T {self.rng.randint(360, 395) / 10} C",
                          f"SpO2 {self.rng.randint(88, 100)}% on RA", f"Temp {self.rng.randint(970, 1030) / 10} F",
                          f"Wt {self.rng.randint(45, 130)} kg", f"BMI {self.rng.randint(180, 420) / 10}"]), None

    def s_lab(self) -> Segment:
        return self.pick([f"Na {self.rng.randint(128, 148)}", f"K {self.rng.randint(30, 59) / 10}", f"Cr {self.rng.randint(5, 40) / 10}",
                          f"WBC {self.rng.randint(30, 220) / 10}", f"Hgb {self.rng.randint(70, 170) / 10}",
                          f"HbA1c {self.rng.randint(50, 120) / 10}%", f"troponin {self.rng.randint(1, 90) / 100} ng/mL",
                          f"INR {self.rng.randint(9, 35) / 10}", f"BNP {self.rng.randint(20, 2400)} pg/mL",
                          f"platelets {self.rng.randint(90, 450)}K", f"lactate {self.rng.randint(8, 60) / 10}",
                          f"glucose {self.rng.randint(70, 380)} mg/dL", f"TSH {self.rng.randint(2, 90) / 10}"]), None

    def s_icd(self) -> Segment:
        return self.pick(["E11.9", "I10", "I50.9", "J44.1", "N18.3", "I48.91", "F32.1", "M54.5", "K21.9", "J18.9",
                          "E78.5", "G40.909", "Z79.01", "I25.10", "R07.9", "N39.0"]), None

    def s_complaint(self) -> Segment:
        return self.pick(["chest pain", "shortness of breath", "abdominal pain", "dizziness", "productive cough",
                          "lower extremity edema", "confusion", "fever and chills", "a fall at home", "palpitations",
                          "worsening dyspnea on exertion", "dysuria"]), None

    def s_sex(self) -> Segment:
        return self.pick(["woman", "man", "female", "male"]), None

    def s_relation(self) -> Segment:
        return self.pick(["daughter", "son", "wife", "husband", "sister", "brother", "niece", "partner"]), None

    def s_car(self) -> Segment:
        return self.pick(["2014 Honda Civic", "2019 Ford F-150", "2011 Toyota Camry", "2021 Tesla Model 3", "2008 Subaru Outback"]), None
