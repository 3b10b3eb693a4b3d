"""Render labelled documents from templates: `{slot}` markers become values with gold spans.

Persona slots (`{p.first}`, `{d.last}`, ...) stay the same person within a document; every other slot
draws a fresh value from `Values`. Templates and value layouts here were written once for measuring
and are never tuned on (see benchmarks/detection.py for which sets were).
"""
from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass

from policies.detect import checksums as cs

_SLOT = re.compile(r"\{([a-z_0-9.]+)\}")
Gold = tuple[str, "str | None"]

FIRST = ("Anna", "Donna", "Kyle", "Filbert", "Rose", "Grace", "Hunter", "Faith", "Mercy", "Chase", "Wendell", "Prudence",
         "Ozzie", "Lupe", "Agnieszka", "Thi", "Mehmet", "Svetlana", "Chidi", "Ngozi", "Rahul", "Priya", "Jun", "Mei",
         "Ahmad", "Fatima", "Kwame", "Ama", "Lars", "Sigrid", "Rafael", "Ximena", "Dmitri", "Aoife", "Cian", "Yara",
         "Hamid", "Noor", "Tomasz", "Zofia", "Kenji", "Hana", "Luca", "Giulia", "Pierre", "Amelie", "Jorge", "Lucia",
         "Dolores", "Eugene", "Bernadette", "Clifford", "Myrtle", "Virgil", "Opal", "Homer", "Iris", "Jasper")
LAST = ("Bright", "Church", "Holmes", "Kaiser", "Orozco", "Wells", "Baker", "Stone", "Fox", "Nguyen", "Okafor",
        "Kowalczyk", "Haddad", "Novak", "Ferrante", "Lindgren", "Oyelowo", "Duchamp", "Brennan", "Castillo", "Whitlock",
        "Pruitt", "Gallagher", "Esposito", "Marchetti", "Dubois", "Moreau", "Schulz", "Becker", "Jansen", "Visser",
        "Kozlov", "Petrenko", "Adeyemi", "Mensah", "Tanaka", "Suzuki", "Park", "Choi", "Tran", "Le", "Ramirez",
        "Delgado", "Quinlan", "Farrow", "Ashby", "Pemberton", "Hargrove", "Tolliver", "Vance", "Sokolova", "Ibrahim")
CITIES = (("Lake Tina", "TX"), ("Port Reginald", "OR"), ("East Alvin", "ME"), ("Millbrook", "AL"), ("Sandusky", "OH"),
          ("Yakima", "WA"), ("Muncie", "IN"), ("Lodi", "CA"), ("Billings", "MT"), ("Dover", "DE"), ("Ithaca", "NY"),
          ("Laredo", "TX"), ("Provo", "UT"), ("Joplin", "MO"), ("Bangor", "ME"), ("Hattiesburg", "MS"))
STREETS = ("Willow", "Harbor", "Cedar Hollow", "Mill Creek", "Orchard", "Pinecrest", "Founders", "Stillwater", "Maple",
           "Buckeye", "Sunset", "Old Mill", "Granite", "Copper")
SUFFIXES = ("Springs", "Wells", "Villages", "Haven", "Pass", "Trace", "Crest", "Bend", "Knoll", "Run", "Hollow",
            "Meadows", "Glen", "Landing", "Shoals", "Path", "Vista", "Commons", "Street", "Avenue", "Road", "Drive")
WORLD_CITIES = ("Lyon", "Sevilla", "Torino", "Leipzig", "Gdansk", "Cork", "Leeds", "Bristol", "Montreal", "Winnipeg",
                "Porto", "Rotterdam")
DOMAINS = ("x.biz", "clinic-north.net", "mailbox.org", "fastmail.fm", "riverbend.health", "orange.fr")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
          "December")


@dataclass
class Person:
    first: str
    last: str


class Values:
    """Values in layouts of their own (not the dev/heldout/fresh layouts of tests/data/detection)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def digits(self, count: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(count))

    def phone(self) -> str:
        area, exchange, line = f"{self.rng.randint(201, 989)}", self.digits(3), self.digits(4)
        return self.rng.choice([f"({area}) {exchange}-{line}", f"{area}.{exchange}.{line}", f"{area}{exchange}{line}",
                                f"{area}-0{exchange[1:]}-{line}", f"{area}-1{exchange[1:]}-{line}",
                                f"+1 {area} {exchange} {line}", f"1-{area}-{exchange}-{line}"])

    def world_phone(self) -> str:
        return self.rng.choice([f"+44 20 7946 {self.digits(4)}", f"+33 1 {self.digits(2)} {self.digits(2)} {self.digits(2)} {self.digits(2)}",
                                f"+49 30 {self.digits(8)}", f"+34 91 {self.digits(3)} {self.digits(2)} {self.digits(2)}",
                                f"+39 06 {self.digits(8)}", f"07{self.digits(3)} {self.digits(6)}", f"+1-514-{self.digits(3)}-{self.digits(4)}"])

    def pager(self) -> str:
        return self.digits(5)

    def short_date(self) -> str:
        month = self.rng.randint(1, 12)
        return self.rng.choice([f"{month}/{self.rng.randint(1, 28):02d}", f"{month}/{self.rng.randint(70, 99)}",
                                MONTHS[month - 1], f"{MONTHS[month - 1][:3]} {self.rng.randint(1, 28)}"])

    def date(self) -> str:
        year, month, day = self.rng.randint(2060, 2099), self.rng.randint(1, 12), self.rng.randint(1, 28)
        return self.rng.choice([f"{year}-{month:02d}-{day:02d}", f"{month:02d}/{day:02d}/{year % 100:02d}",
                                f"{day} {MONTHS[month - 1]} {year}", f"{MONTHS[month - 1]} {day}, {year}",
                                f"{month}/{day}/{year}", f"{day}.{month}.{year}"])

    def street(self) -> str:
        return f"{self.rng.randint(3, 9899)} {self.rng.choice(STREETS)} {self.rng.choice(SUFFIXES)}"

    def city(self) -> tuple[str, str]:
        return self.rng.choice(CITIES)

    def zip(self) -> str:
        return self.digits(5)

    def mrn(self) -> str:
        return self.rng.choice([self.digits(7), f"{self.digits(3)}-{self.digits(2)}-{self.digits(2)}-{self.digits(1)}",
                                f"{self.digits(2)}{self.rng.choice('ABCDEFGH')}{self.digits(6)}", self.digits(8)])

    def ssn(self) -> str:
        area, group, serial = f"{self.rng.randint(1, 665):03d}", f"{self.rng.randint(1, 99):02d}", f"{self.rng.randint(1, 9999):04d}"
        return self.rng.choice([f"{area}{group}{serial}", f"{area} {group} {serial}", f"{area}-{group}-{serial}"])

    def sin(self) -> str:
        payload = str(self.rng.randint(1, 7)) + self.digits(7)
        number = payload + str(cs.luhn_check(payload))
        return f"{number[:3]} {number[3:6]} {number[6:]}"

    def nino(self) -> str:
        return f"{self.rng.choice('ABCEHJKLMNPRSTWXY')}{self.rng.choice('ABCEHJKLMNPRSTWXY')}{self.digits(6)}{self.rng.choice('ABCD')}"

    def dni(self) -> str:
        number = self.rng.randint(10_000_000, 99_999_999)
        return f"{number}{cs.dni_letter(number)}"

    def nie(self) -> str:
        prefix, number = self.rng.choice("XYZ"), self.digits(7)
        return f"{prefix}{number}{cs.dni_letter(int(str('XYZ'.index(prefix)) + number))}"

    def nir(self) -> str:
        body = f"{self.rng.choice('12')}{self.digits(2)}{self.rng.randint(1, 12):02d}{self.rng.randint(1, 95):02d}{self.digits(3)}{self.digits(3)}"
        return f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:]} {cs.nir_key(body):02d}"

    def codice_fiscale(self) -> str:
        letters = "".join(self.rng.choice(string.ascii_uppercase) for _ in range(6))
        body = f"{letters}{self.digits(2)}{self.rng.choice('ABCDEHLMPRST')}{self.rng.randint(1, 28):02d}{self.rng.choice('ABFGHL')}{self.digits(3)}"
        return body + cs.codice_fiscale_check(body)

    def email(self, person: Person) -> str:
        local = self.rng.choice([f"{person.first}.{person.last}", f"{person.first[0]}{person.last}", f"{person.last}{self.digits(2)}"])
        return f"{local.lower()}@{self.rng.choice(DOMAINS)}"

    def url(self) -> str:
        return f"https://{self.rng.choice(DOMAINS)}/patients/{self.rng.randint(1, 99999)}"

    def account(self) -> str:
        return self.rng.choice([self.digits(10), f"{self.digits(4)}-{self.digits(6)}", f"AC{self.digits(8)}"])

    def age(self) -> str:
        return str(self.rng.randint(90, 104))


class Renderer:
    """Fills one template; persona slots `p` (patient), `d` (clinician), `r` (relative)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.values = rng, Values(rng)
        self.people: dict[str, Person] = {}

    def person(self, role: str) -> Person:
        if role not in self.people:
            self.people[role] = Person(self.rng.choice(FIRST), self.rng.choice(LAST))
        return self.people[role]

    def render(self, template: str) -> tuple[str, list[dict[str, object]]]:
        self.people = {}
        text, spans, position = "", [], 0
        for match in _SLOT.finditer(template):
            text += template[position:match.start()]
            for value, entity in self.slot(match.group(1)):
                if entity:
                    spans.append({"start": len(text), "end": len(text) + len(value), "entity_type": entity})
                text += value
            position = match.end()
        return text + template[position:], spans

    def slot(self, name: str) -> list[Gold]:
        if "." in name:
            return self.persona(*name.split(".", 1))
        v = self.values
        city, state = v.city()
        simple = {
            "phone": (v.phone, "PHONE_NUMBER"), "world_phone": (v.world_phone, "PHONE_NUMBER"), "pager": (v.pager, "PHONE_NUMBER"),
            "short_date": (v.short_date, "DATE_TIME"), "date": (v.date, "DATE_TIME"), "street": (v.street, "STREET_ADDRESS"),
            "zip": (v.zip, "ZIP_CODE"), "mrn": (v.mrn, "MEDICAL_RECORD_NUMBER"), "ssn": (v.ssn, "US_SSN"),
            "sin": (v.sin, "EU_NATIONAL_ID"), "nino": (v.nino, "UK_NINO"), "dni": (v.dni, "EU_NATIONAL_ID"),
            "nie": (v.nie, "EU_NATIONAL_ID"), "nir": (v.nir, "EU_NATIONAL_ID"), "cf": (v.codice_fiscale, "EU_NATIONAL_ID"),
            "url": (v.url, "URL"), "account": (v.account, "ACCOUNT_NUMBER"), "age": (v.age, "AGE_OVER_89"),
            "world_city": (lambda: self.rng.choice(WORLD_CITIES), "LOCATION"),
        }
        if name in simple:
            make, entity = simple[name]
            return [(make(), entity)]
        if name == "city":
            return [(city, "LOCATION")]
        if name == "city_state_zip":
            return [(city, "LOCATION"), (", ", None), (state, "LOCATION"), (" ", None), (v.zip(), "ZIP_CODE")]
        if name == "city_zip":
            return [(city, "LOCATION"), (" ", None), (v.zip(), "ZIP_CODE")]
        raise KeyError(f"unknown slot {name!r}")

    def persona(self, role: str, form: str) -> list[Gold]:
        p = self.person(role)
        forms: dict[str, list[Gold]] = {
            "first": [(p.first, "PERSON")], "last": [(p.last, "PERSON")],
            "full": [(f"{p.first} {p.last}", "PERSON")],
            "lastfirst": [(f"{p.last}, {p.first}", "PERSON")],
            "caps": [(f"{p.first} {p.last}".upper(), "PERSON")],
            "capslastfirst": [(f"{p.last.upper()},{p.first.upper()}", "PERSON")],
            "lower": [(f"{p.first} {p.last}".lower(), "PERSON")],
            "initials": [(f"{p.first[0]}{p.last[0]}".upper(), "PERSON")],
            "lowerlast": [(p.last.lower(), "PERSON")],
            "email": [(self.values.email(p), "EMAIL_ADDRESS")],
        }
        return forms[form]


def render_documents(templates: dict[str, tuple[str, ...]], seed: int, per_category: int, split: str,
                     renderer_class: type[Renderer] = Renderer) -> list[dict]:
    """`per_category` documents per category, templates used round robin, values drawn from `seed`."""
    renderer = renderer_class(random.Random(seed))
    documents = []
    for category, texts in templates.items():
        for index in range(per_category):
            text, spans = renderer.render(texts[index % len(texts)])
            documents.append({"id": f"{split}-{category}-{index:03d}", "split": split, "category": category,
                              "template": index % len(texts), "text": text, "spans": spans})
    return documents
